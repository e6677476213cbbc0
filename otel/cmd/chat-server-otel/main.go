// Command chat-server-otel runs the chat example's server
// (examples/chat/server) instrumented with OpenTelemetry: every call is
// traced and measured by otelparley, spans go to stdout or to an OTLP
// collector, and the metrics are served for Prometheus on /metrics.
//
//	go run ./cmd/chat-server-otel -addr 127.0.0.1:7070 -trace stdout -metrics 127.0.0.1:9464
//
// (from the otel module's directory). It is a separate command, in the
// otel module, so that the chat server and the core module need no
// OpenTelemetry dependency; it serves exactly what examples/chat/cmd/chat-server
// serves (chat, health, reflection) and drains the same way on SIGTERM.
//
// Flags:
//
//	-trace none|stdout|otlp  where spans go (default none). otlp sends them
//	                         over OTLP/HTTP to -otlp-endpoint, or to the
//	                         OTEL_EXPORTER_OTLP_ENDPOINT or
//	                         OTEL_EXPORTER_OTLP_TRACES_ENDPOINT variable,
//	                         else to localhost:4318.
//	-metrics HOST:PORT       serve Prometheus metrics on http://HOST:PORT/metrics
//	                         (default: off).
//
// The W3C trace context (traceparent, tracestate) and baggage are read
// from each call's metadata, so a caller's trace continues in the server.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"

	"github.com/parleyrpc/parley/examples/chat/server"
	"github.com/parleyrpc/parley/otel/otelparley"
	"github.com/parleyrpc/parley/runtime"
)

// config is the command line.
type config struct {
	addr         string
	history      int
	idle         time.Duration
	drain        time.Duration
	trace        string
	otlpEndpoint string
	metricsAddr  string
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("chat-server-otel", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.addr, "addr", "127.0.0.1:7070", "listen on `host:port`")
	fs.IntVar(&c.history, "history", server.DefaultHistorySize, "messages each room keeps and replays to joiners")
	fs.DurationVar(&c.idle, "idle", server.DefaultIdleGrace, "how long an empty room lives on")
	fs.DurationVar(&c.drain, "drain", 0, "after SIGTERM or Ctrl-C, keep serving this long while health checks report NOT_SERVING")
	fs.StringVar(&c.trace, "trace", "none", "where spans go: `none`, stdout or otlp")
	fs.StringVar(&c.otlpEndpoint, "otlp-endpoint", "", "OTLP/HTTP collector `host:port` for -trace otlp (default: the OTEL_EXPORTER_OTLP_* variables, else localhost:4318)")
	fs.StringVar(&c.metricsAddr, "metrics", "", "serve Prometheus metrics on `host:port`/metrics")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	switch c.trace {
	case "none", "stdout", "otlp":
	default:
		return c, fmt.Errorf("-trace %q: want none, stdout or otlp", c.trace)
	}
	return c, nil
}

func main() {
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if err != nil {
		os.Exit(2)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	if err := run(cfg, os.Stdout, sig, nil); err != nil {
		fmt.Fprintln(os.Stderr, "chat-server-otel:", err)
		os.Exit(1)
	}
}

// addrs are where run listens, handed to its ready callback.
type addrs struct {
	chat, metrics string
}

// run serves until the first signal on sig, drains for cfg.drain (a second
// signal cuts it short), shuts down, and flushes the telemetry. Spans for
// -trace stdout go to out. ready, if not nil, is called once everything
// listens.
func run(cfg config, out io.Writer, sig <-chan os.Signal, ready func(addrs)) error {
	res := resource.NewWithAttributes(semconv.SchemaURL, semconv.ServiceName("parley-chat-server"))
	var tpOpts []sdktrace.TracerProviderOption
	switch cfg.trace {
	case "stdout":
		exp, err := stdouttrace.New(stdouttrace.WithWriter(out), stdouttrace.WithPrettyPrint())
		if err != nil {
			return err
		}
		// Synchronous, so each span is printed as it ends.
		tpOpts = append(tpOpts, sdktrace.WithSyncer(exp))
	case "otlp":
		var opts []otlptracehttp.Option
		if cfg.otlpEndpoint != "" {
			opts = append(opts, otlptracehttp.WithEndpoint(cfg.otlpEndpoint), otlptracehttp.WithInsecure())
		}
		exp, err := otlptracehttp.New(context.Background(), opts...)
		if err != nil {
			return err
		}
		tpOpts = append(tpOpts, sdktrace.WithBatcher(exp))
	}
	tp := sdktrace.NewTracerProvider(append(tpOpts, sdktrace.WithResource(res))...)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		tp.Shutdown(ctx)
	}()

	var mpOpts []sdkmetric.Option
	var metricsHandler http.Handler
	if cfg.metricsAddr != "" {
		reg := prometheus.NewRegistry()
		exp, err := otelprom.New(otelprom.WithRegisterer(reg))
		if err != nil {
			return err
		}
		mpOpts = append(mpOpts, sdkmetric.WithReader(exp))
		metricsHandler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	}
	mp := sdkmetric.NewMeterProvider(append(mpOpts, sdkmetric.WithResource(res))...)
	defer mp.Shutdown(context.Background())

	instrument := otelparley.ServerOptions(
		otelparley.WithTracerProvider(tp),
		otelparley.WithMeterProvider(mp),
		otelparley.WithPropagators(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})),
	)
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv := server.New(server.Config{HistorySize: cfg.history, IdleGrace: cfg.idle, Logger: logger},
		append(instrument, runtime.WithLogger(logger))...)
	l, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	a := addrs{chat: l.Addr().String()}
	errc := make(chan error, 2)
	var metricsSrv *http.Server
	if metricsHandler != nil {
		ml, err := net.Listen("tcp", cfg.metricsAddr)
		if err != nil {
			l.Close()
			return err
		}
		a.metrics = ml.Addr().String()
		mux := http.NewServeMux()
		mux.Handle("/metrics", metricsHandler)
		metricsSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := metricsSrv.Serve(ml); !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}()
		fmt.Fprintf(out, "metrics on http://%s/metrics\n", a.metrics)
	}
	fmt.Fprintf(out, "chat server listening on %s (traces: %s; Ctrl-C to stop)\n", a.chat, cfg.trace)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	if ready != nil {
		ready(a)
	}

	var runErr error
	select {
	case err := <-served:
		runErr = err
	case err := <-errc:
		runErr = err
	case <-sig:
	}
	srv.Health().Shutdown()
	if runErr == nil && cfg.drain > 0 {
		fmt.Fprintf(out, "draining: health checks report NOT_SERVING; shutting down in %v (signal again to stop now)\n", cfg.drain)
		t := time.NewTimer(cfg.drain)
		select {
		case <-t.C:
		case <-sig:
		}
		t.Stop()
	}
	fmt.Fprintln(out, "shutting down: members are told UNAVAILABLE")
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) && runErr == nil {
		runErr = err
	}
	if metricsSrv != nil {
		metricsSrv.Shutdown(sctx)
	}
	if err := <-served; err != nil && !errors.Is(err, runtime.ErrServerClosed) && runErr == nil {
		runErr = err
	}
	return runErr
}
