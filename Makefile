# parley: the two commands a newcomer needs are `make chat` and `make test`.

GO        ?= go
# Nested modules with their own go.mod (grpc-go lives only there).
MODULES   := . $(patsubst %/go.mod,%,$(wildcard */go.mod))
PKGS      := ./...
FUZZTIME  ?= 30s

.PHONY: test vet lint fmt-check unit chat chat-server chat-client chat-web fuzz bench bench-ghz generate

## test: gofmt, go vet, staticcheck and the race-enabled tests of every
## module; then the transport's and interop's tests again without -race,
## which is the build that reads and writes sockets with raw syscalls.
test: fmt-check vet lint unit

fmt-check:
	@out="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"; \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

## vet also checks the core module, tests included, as built for the other
## platforms it supports: files split by build tag must compile everywhere.
VET_GOOS  := darwin windows freebsd
vet:
	@for m in $(MODULES); do echo "go vet ($$m)"; (cd $$m && $(GO) vet ./...) || exit 1; done
	@for os in $(VET_GOOS); do echo "go vet (GOOS=$$os)"; GOOS=$$os $(GO) vet ./... || exit 1; done

## lint: staticcheck on every module: the one on PATH (.ci/run installs
## STATICCHECK_VERSION), else that version through go run.
STATICCHECK_VERSION := v0.8.2
STATICCHECK ?= $(shell command -v staticcheck 2>/dev/null || echo "$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)")
lint:
	@for m in $(MODULES); do echo "staticcheck ($$m)"; (cd $$m && $(STATICCHECK) ./...) || exit 1; done

unit:
	@for m in $(MODULES); do echo "go test -race ($$m)"; (cd $$m && $(GO) test -race -count=1 -timeout 8m ./...) || exit 1; done
	@echo "go test -race -tags parleydebug (runtime streaming tests, with ownership checks)"
	@$(GO) test -race -count=1 -tags parleydebug -run 'Bidi|Stream|Deadline|Interceptor|Credit' ./runtime
	@echo "go test without -race (the transport's raw socket reads and writes, which race builds replace)"
	@$(GO) test -count=1 ./runtime/... ./web && (cd interop && $(GO) test -count=1 .)

## fuzz: run every fuzz target for FUZZTIME each. A run that fails with
## nothing but "context deadline exceeded" and writes no failing input is
## Go 1.26's fuzzing coordinator racing its own -fuzztime deadline
## (golang/go#75804, fixed in Go 1.27), not a finding: it is reported and
## the next target runs.
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$f"; \
	    out=$$($(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 10s $$pkg 2>&1); rc=$$?; \
	    echo "$$out" | grep -v '^fuzz: elapsed' ; \
	    if [ $$rc -ne 0 ]; then \
	      if echo "$$out" | grep -q 'Failing input written' || ! echo "$$out" | grep -q '^    context deadline exceeded$$'; then exit 1; fi; \
	      echo "fuzz $$pkg $$f: the coordinator's deadline race (golang/go#75804), no failing input"; \
	    fi; \
	  done; \
	done

## generate: regenerate every generated package (the examples' go:generate
## lines and the generator's golden files); the tests fail when they are
## stale.
generate:
	$(GO) generate ./...
	cd interop && $(GO) generate ./...
	cd browsertest && $(GO) generate ./...
	$(GO) test ./stubs -run TestGolden -update

## bench: parley against grpc-go, every cell for every server/client pair,
## each in its own process, 3 interleaved rounds (about 6 minutes on 2
## cores), then the chat benchmark (parley's chat server with and without
## its protocol check, and the same chat on grpc-go, driven by one grpc-go
## load generator: about 2 minutes), then the sweep (unary and ping-pong
## at 1 to 64 callers or streams, 1,000 to 10,000 idle conversations, 100
## to 2,000 idle connections, chat rooms of 100 to 1,000, parley and
## grpc-go, 3 rounds: 4 to 5 minutes measured on the 2 shared cores, so
## 12 to 13 minutes in all).
## BENCHFLAGS=-quick is a smoke run of all three; see docs/performance.md
## for the other flags (CHATFLAGS for the chat's, SWEEPFLAGS the sweep's).
## A full run also redraws the charts of docs/performance.md (docs/img).
BENCHFLAGS ?=
CHATFLAGS ?= $(filter -quick,$(BENCHFLAGS))
SWEEPFLAGS ?= $(filter -quick,$(BENCHFLAGS))
BENCHSVG  ?= $(if $(filter -quick,$(BENCHFLAGS)),,-svg ../docs/img)
bench:
	cd bench && $(GO) run ./cmd/parleybench run $(BENCHSVG) $(BENCHFLAGS)
	cd bench && $(GO) run ./cmd/parleybench chat $(BENCHSVG) $(CHATFLAGS)
	cd bench && $(GO) run ./cmd/parleybench sweep $(BENCHSVG) $(SWEEPFLAGS)

## bench-ghz: parley's server against grpc-go's measured with a load
## client the project does not contain: ghz (a grpc-go client) drives
## unary calls with protobuf payloads at 1 and 32 callers against parley's
## interop server and grpc-go's own, 3 interleaved rounds (about a
## minute; both tools are installed through the Go module proxy).
bench-ghz:
	GO=$(GO) bash bench/ghz/run.sh

## chat: the README's first command: a chat server on an ephemeral loopback
## port and three scripted members holding a live conversation in two rooms;
## prints the transcript and exits 0 within a few seconds.
chat:
	$(GO) run ./examples/chat/demo

## chat-server: the chat server alone, on ADDR, until Ctrl-C; open
## http://ADDR/ in a browser to chat from its web page.
ADDR ?= 127.0.0.1:7070
chat-server:
	$(GO) run ./examples/chat/cmd/chat-server -addr $(ADDR)

## chat-client: an interactive member NAME in ROOM of the server on ADDR.
NAME ?= $(USER)
ROOM ?= lobby
chat-client:
	$(GO) run ./examples/chat/client -addr $(ADDR) -name $(NAME) -room $(ROOM)

## chat-web: rebuild the chat page's JavaScript (examples/chat/webui/static/app.js,
## checked in) from its TypeScript after regenerating the client; needs npm.
chat-web:
	$(GO) generate ./examples/chat/webui
	cd examples/chat/webui && npm ci --no-audit --no-fund && npm run build

## probe: hostile-peer probe (interop/cmd/h2probe): every attack against a
## fresh parley and a fresh grpc-go interop server, then a PING flood against
## each client; prints one Markdown table each (about 3 minutes).
## PROBEFLAGS adds h2probe flags, ATTACKS picks attacks (h2probe -list).
.PHONY: probe
probe:
	GO=$(GO) bash interop/cmd/h2probe/probe.sh
