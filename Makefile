# Lasso's two everyday commands are `make run` (local mode) and `make test` (every test).
SDKCOMPAT := cdf/cdflocal/testdata/sdkcompat

.PHONY: run test generate check-generated node-deps

run:
	go run ./cmd/web

generate:
	go tool templ generate

# The generated templ files are committed; fail when they are stale.
check-generated:
	go tool templ generate
	git diff --exit-code -- views/ || (echo "views/*_templ.go are stale: run 'make generate' and commit" >&2; exit 1)

node-deps:
	npm ci --prefix $(SDKCOMPAT) --no-audit --no-fund

test: check-generated node-deps
	go mod tidy -diff
	go vet ./...
	go test -race ./hub/... ./jobs/... ./rooms/... ./handlers/... ./auth/... ./store/... ./vision/...
	go test ./...
	node --test static/js/
