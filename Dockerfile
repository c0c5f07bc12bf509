# Multi-stage build: a static binary with every asset embedded, run as a non-root user.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/lasso ./cmd/web \
 && CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/cdflocal ./cmd/cdflocal

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/lasso /out/cdflocal /usr/local/bin/
USER nonroot:nonroot
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/lasso"]
CMD ["-addr", "0.0.0.0:8080"]
