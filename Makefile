# Lasso's two everyday commands are `make run` (local mode) and `make test` (every test).
SDKCOMPAT := cdf/cdflocal/testdata/sdkcompat
A11Y := cmd/web/testdata/a11y

.PHONY: run test fuzz generate check-generated node-deps

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
	npm ci --prefix $(A11Y) --no-audit --no-fund

test: check-generated node-deps
	go mod tidy -diff
	go vet ./...
	go test -race ./hub/... ./jobs/... ./rooms/... ./handlers/... ./auth/... ./store/... ./vision/...
	go test ./...
	node --test static/js/

# Every fuzz target, package:name. `make test` runs their seeds (f.Add and testdata/fuzz) as
# plain tests; `make fuzz` fuzzes each for FUZZTIME (CI runs it after make test).
FUZZ_TARGETS := \
	./cdf/:FuzzFileAnswer ./cdf/:FuzzSegmentJobAnswer ./cdf/:FuzzAnnotationAnswer \
	./cdf/:FuzzAPIErrorBody ./cdf/:FuzzTokenInspection \
	./auth/:FuzzKeyOpen ./auth/:FuzzLoginCookie \
	./export/:FuzzHostileDataset ./export/:FuzzPolygon \
	./segment/:FuzzImageHeader ./segment/:FuzzSegment ./segment/:FuzzTracePolygons \
	./handlers/:FuzzSegmentPrompt ./handlers/:FuzzRoomLabels \
	./rooms/:FuzzBuildAnnotations
FUZZTIME ?= 10s

fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		echo "fuzz $${t#*:} ($${t%%:*}) for $(FUZZTIME)"; \
		go test -run '^$$' -fuzz "^$${t#*:}$$" -fuzztime $(FUZZTIME) "$${t%%:*}"; \
	done
