// Command ferretdb runs an embedded FerretDB v1 (PostgreSQL handler) as a
// MongoDB-wire test server. It is built and started by scripts/mongo-test-server.sh.
//
// Configuration (flag, then environment variable, then default):
//
//	-listen    FERRETDB_LISTEN_ADDR     127.0.0.1:27017
//	-postgres  FERRETDB_POSTGRESQL_URL  postgres://postgres@127.0.0.1:5432/ferretdb
//	-log-level FERRETDB_LOG_LEVEL       info (debug|info|warn|error)
//
// Telemetry is always disabled by the embedded ferretdb package.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func main() {
	listen := flag.String("listen", envOr("FERRETDB_LISTEN_ADDR", "127.0.0.1:27017"), "TCP listen address")
	pgURL := flag.String("postgres", envOr("FERRETDB_POSTGRESQL_URL", "postgres://postgres@127.0.0.1:5432/ferretdb"), "PostgreSQL URL")
	logLevel := flag.String("log-level", envOr("FERRETDB_LOG_LEVEL", "info"), "log level: debug, info, warn, error")
	flag.Parse()

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(os.Stderr, "invalid log level %q: %v\n", *logLevel, err)
		os.Exit(2)
	}

	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(logger)

	// The ferretdb package disables telemetry itself (state is locked to "disabled").
	f, err := ferretdb.New(&ferretdb.Config{
		Listener: ferretdb.ListenerConfig{
			TCP: *listen,
		},
		Logger:        logger,
		Handler:       "postgresql",
		PostgreSQLURL: *pgURL,
	})
	if err != nil {
		logger.Error("failed to create FerretDB", "error", err)
		os.Exit(1)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := f.Run(ctx); err != nil {
			logger.Error("FerretDB stopped with error", "error", err)
		}
	}()

	// MongoDBURI must only be called once Run has started the listener;
	// it blocks until the listener address is known.
	logger.Info("FerretDB listening", "uri", f.MongoDBURI(), "postgresql", *pgURL)

	<-done
	logger.Info("FerretDB stopped")
}
