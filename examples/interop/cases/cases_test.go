package cases_test

import (
	"context"
	"errors"
	"testing"

	"go.uber.org/goleak"

	"github.com/parleyrpc/parley/examples/interop/cases"
	"github.com/parleyrpc/parley/examples/interop/service"
	"github.com/parleyrpc/parley/internal/testutil"
	"github.com/parleyrpc/parley/runtime"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestAgainstParley runs every case with the parley client against the
// parley interop server, over h2c and TLS. The interop module runs the same
// cases against grpc-go, and grpc-go's client against this server.
func TestAgainstParley(t *testing.T) {
	for _, useTLS := range []bool{false, true} {
		name := "h2c"
		if useTLS {
			name = "tls"
		}
		t.Run(name, func(t *testing.T) {
			var sopts []runtime.ServerOption
			cfg := cases.Config{}
			if useTLS {
				pki := testutil.NewPKI(t)
				sopts = append(sopts, runtime.WithTLS(pki.ServerTLS(false)))
				cfg.TLS = pki.ClientTLS(false)
			}
			srv := runtime.NewServer(sopts...)
			service.Register(srv)
			l := testutil.Listen(t, "tcp4")
			served := make(chan error, 1)
			go func() { served <- srv.Serve(l) }()
			defer func() {
				srv.Close()
				if err := <-served; !errors.Is(err, runtime.ErrServerClosed) {
					t.Errorf("Serve: %v", err)
				}
			}()
			cfg.Addr = l.Addr().String()
			r, err := cases.NewRunner(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			for _, res := range r.RunAll(context.Background(), nil, nil) {
				if res.Err != nil {
					t.Errorf("%s: %v", res.Name, res.Err)
				}
			}
		})
	}
}

// TestUnknownCase: Run refuses a name that is not a case.
func TestUnknownCase(t *testing.T) {
	r, err := cases.NewRunner(cases.Config{Addr: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Run(context.Background(), "no_such_case"); err == nil {
		t.Error("Run of an unknown case succeeded")
	}
}
