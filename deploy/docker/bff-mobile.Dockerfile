# Builds bff-mobile alone, as its own deployment: only shared/ and bff-mobile/ are
# copied, and GOWORK=off makes the module's replace of ../shared the only link.
# Build from the repository root: docker build -f deploy/docker/bff-mobile.Dockerfile .
FROM golang:1.26 AS build
WORKDIR /src
COPY shared/ shared/
COPY bff-mobile/ bff-mobile/
WORKDIR /src/bff-mobile
RUN GOWORK=off go mod download
RUN CGO_ENABLED=0 GOWORK=off go build -trimpath -ldflags="-s -w" -o /out/bff-mobile .

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/bff-mobile /bff-mobile
EXPOSE 8090
USER nonroot:nonroot
ENTRYPOINT ["/bff-mobile"]
