# Builds bff-web alone, as its own deployment: only shared/ and bff-web/ are
# copied, and GOWORK=off makes the module's replace of ../shared the only link.
# Build from the repository root: docker build -f deploy/docker/bff-web.Dockerfile .
# Base images pinned by digest, so that a rebuild is the same image; to move
# to a newer one: crane digest golang:1.26 (and the distroless tag below).
FROM golang:1.26@sha256:595c7847cff97c9a9e76f015083c481d26078f961c9c8dca3923132f51fe12f1 AS build
# The modules ask for go 1.26.8; an image of an earlier 1.26 fetches that
# toolchain (checked against the checksum database) instead of refusing.
ENV GOTOOLCHAIN=auto
WORKDIR /src
# The modules first, so that a change of source alone keeps the download.
COPY shared/go.mod shared/go.sum shared/
COPY bff-web/go.mod bff-web/go.sum bff-web/
WORKDIR /src/bff-web
RUN GOWORK=off go mod download
COPY shared/ /src/shared/
COPY bff-web/ /src/bff-web/
RUN CGO_ENABLED=0 GOWORK=off go build -trimpath -ldflags="-s -w" -o /out/bff-web .
# The state directory, empty; the runtime image has no shell to make it.
RUN mkdir -m 0700 /out/state

FROM gcr.io/distroless/static-debian12:nonroot@sha256:afa5c872c891853ca7fcf1f12c3edb23f7eeef36189728842dd51042ff57f7ab
COPY --from=build /out/bff-web /bff-web
EXPOSE 8080
# STATE_DIR: the checkout journal, $STATE_DIR/bff-web.db, kept when REDIS_URL
# is not set. Owned by nonroot (65532) so that the BFF can write it, and so
# that a new named volume mounted here starts with that owner. It must
# outlive the container (a volume), and only one container may use it.
COPY --from=build --chown=65532:65532 /out/state /var/lib/storefront
ENV STATE_DIR=/var/lib/storefront
VOLUME /var/lib/storefront
# Numeric, so that Kubernetes' runAsNonRoot can verify it.
USER 65532:65532
# The BFF asks its own /readyz: the image has no shell and no curl.
HEALTHCHECK --interval=10s --timeout=5s --start-period=15s --retries=3 CMD ["/bff-web", "healthcheck"]
ENTRYPOINT ["/bff-web"]
