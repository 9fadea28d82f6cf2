# The sandbox: the five reference upstream services on 8001-8005.
# Build from the repository root: docker build -f deploy/docker/sandbox.Dockerfile .
FROM golang:1.26 AS build
WORKDIR /src
COPY shared/ shared/
COPY deploy/ deploy/
WORKDIR /src/deploy
RUN GOWORK=off go mod download
RUN CGO_ENABLED=0 GOWORK=off go build -trimpath -ldflags="-s -w" -o /out/sandbox ./sandbox

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/sandbox /sandbox
EXPOSE 8001 8002 8003 8004 8005
USER nonroot:nonroot
ENTRYPOINT ["/sandbox"]
