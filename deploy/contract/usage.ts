// A frontend's use of the clients generated from the BFFs' OpenAPI
// documents (npm run generate): if a document changes a shape this code
// relies on, tsc --noEmit fails. Nothing here runs.
import type { components as Web, paths as WebPaths } from "./gen/bff-web";
import type { components as Mobile, paths as MobilePaths } from "./gen/bff-mobile";

type WebSession = Web["schemas"]["Session"];
type WebOrder = Web["schemas"]["Order"];
type MobileToken = Mobile["schemas"]["Token"];
type Problem = Web["schemas"]["Problem"];

type LoginBody = WebPaths["/api/session"]["post"]["requestBody"]["content"]["application/json"];
type MobileOrders = MobilePaths["/v1/orders"]["get"]["responses"]["200"]["content"]["application/json"];
type RefreshBody = MobilePaths["/v1/auth/refresh"]["post"]["requestBody"]["content"]["application/json"];

export async function signIn(base: string, body: LoginBody): Promise<WebSession> {
  const r = await fetch(base + "/api/session", {
    method: "POST",
    credentials: "include",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!r.ok) {
    throw describe((await r.json()) as Problem);
  }
  const session = (await r.json()) as WebSession;
  const csrf: string = session.csrf_token;
  const until: string = session.expires_at;
  void csrf;
  void until;
  return session;
}

export function orderTotal(o: WebOrder): number {
  return o.totals.total.amount;
}

// refresh sends key, new for each refresh and the same on its retries.
export async function refresh(base: string, token: MobileToken, key: string): Promise<MobileToken> {
  const body: RefreshBody = { refresh_token: token.refresh_token };
  const r = await fetch(base + "/v1/auth/refresh", {
    method: "POST",
    headers: { "Content-Type": "application/json", "Idempotency-Key": key },
    body: JSON.stringify(body),
  });
  return (await r.json()) as MobileToken;
}

export function nextPage(page: MobileOrders): string | undefined {
  return page.next_cursor ?? undefined;
}

// describe switches on every code the BFF can send: a code missing from
// the document's enum, or one the document adds, breaks the exhaustiveness
// check below.
export function describe(p: Problem): string {
  switch (p.code) {
    case "invalid_request":
    case "malformed_json":
      return "Check the form: " + (p.detail ?? "");
    case "unauthenticated":
      return "Log in again.";
    case "forbidden":
    case "not_found":
    case "method_not_allowed":
    case "not_implemented":
      return p.detail ?? p.title;
    case "payment_declined":
      return "The payment was declined.";
    case "out_of_stock":
      return "Some items are no longer available.";
    case "idempotency_key_missing":
    case "idempotency_key_invalid":
    case "idempotency_key_in_use":
    case "idempotency_key_reused":
      return "The order is being placed; wait a moment.";
    case "payload_too_large":
    case "headers_too_large":
    case "request_timeout":
    case "unsupported_media_type":
      return "The request could not be sent.";
    case "rate_limited":
    case "overloaded":
    case "upstream_unavailable":
    case "deadline_exceeded":
      return "Try again in a moment.";
    case "internal":
      return "Something went wrong.";
    default: {
      const unknown: never = p.code;
      return unknown;
    }
  }
}
