# Multi-stage build: a static binary with every asset embedded, run as a non-root user.
#
# The image runs CDF mode from environment variables (see docs/OPERATIONS.md); without them it
# exits at once saying which are missing. A local demo is one variable away:
#   docker run -p 8080:8080 -e LASSO_UNSAFE_LOCAL_SIGNIN_ON_NETWORK=true lasso
# and is opened at http://localhost:8080 (other host names: LASSO_ALLOWED_HOSTS).
# Probes: GET /healthz (alive) and GET /readyz (database and CDF reachable).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/lasso ./cmd/web \
 && CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/cdflocal ./cmd/cdflocal \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/lasso /out/cdflocal /usr/local/bin/
# The data folder (SQLite database, session key) belongs to the nonroot user (65532).
COPY --from=build --chown=65532:65532 --chmod=0700 /out/data /data
USER nonroot:nonroot
ENV LASSO_ADDR=0.0.0.0:8080 LASSO_DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/lasso"]
CMD []
