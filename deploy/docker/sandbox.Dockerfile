# The sandbox: the five reference upstream services on 8001-8005.
# Build from the repository root: docker build -f deploy/docker/sandbox.Dockerfile .
# Base images pinned by digest, so that a rebuild is the same image; to move
# to a newer one: crane digest golang:1.26 (and the distroless tag below).
FROM golang:1.26@sha256:595c7847cff97c9a9e76f015083c481d26078f961c9c8dca3923132f51fe12f1 AS build
# The modules ask for go 1.26.8; an image of an earlier 1.26 fetches that
# toolchain (checked against the checksum database) instead of refusing.
ENV GOTOOLCHAIN=auto
WORKDIR /src
# The modules first, so that a change of source alone keeps the download.
COPY shared/go.mod shared/go.sum shared/
COPY deploy/go.mod deploy/go.sum deploy/
WORKDIR /src/deploy
RUN GOWORK=off go mod download
COPY shared/ /src/shared/
COPY deploy/ /src/deploy/
RUN CGO_ENABLED=0 GOWORK=off go build -trimpath -ldflags="-s -w" -o /out/sandbox ./sandbox

FROM gcr.io/distroless/static-debian12:nonroot@sha256:afa5c872c891853ca7fcf1f12c3edb23f7eeef36189728842dd51042ff57f7ab
COPY --from=build /out/sandbox /sandbox
# The binary listens on loopback by default: the image's services listen on
# every address of the container.
ENV SANDBOX_PRODUCT_ADDR=:8001 SANDBOX_ORDER_ADDR=:8002 SANDBOX_PAYMENT_ADDR=:8003 \
    SANDBOX_USER_ADDR=:8004 SANDBOX_NOTIFICATION_ADDR=:8005
EXPOSE 8001 8002 8003 8004 8005
# Numeric (distroless's nonroot), so that Kubernetes' runAsNonRoot can check it.
USER 65532:65532
ENTRYPOINT ["/sandbox"]
