# Builds bff-web alone, as its own deployment: only shared/ and bff-web/ are
# copied, and GOWORK=off makes the module's replace of ../shared the only link.
# Build from the repository root: docker build -f deploy/docker/bff-web.Dockerfile .
FROM golang:1.26 AS build
WORKDIR /src
COPY shared/ shared/
COPY bff-web/ bff-web/
WORKDIR /src/bff-web
RUN GOWORK=off go mod download
RUN CGO_ENABLED=0 GOWORK=off go build -trimpath -ldflags="-s -w" -o /out/bff-web .

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/bff-web /bff-web
EXPOSE 8080
USER nonroot:nonroot
ENTRYPOINT ["/bff-web"]
