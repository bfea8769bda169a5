package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/spf13/cobra"
	"github.com/tde-go/tde/engine"
	"github.com/tde-go/tde/internal/pebblefile"
	"github.com/tde-go/tde/keys"
)

// storeFlags name a store and its encryption settings.
type storeFlags struct {
	dir        string
	config     string
	spec       string
	allowLoose bool
}

func addStoreFlags(cmd *cobra.Command) *storeFlags {
	s := &storeFlags{}
	f := cmd.Flags()
	f.StringVar(&s.dir, "store", "", "the store directory (required, unless --enterprise-encryption names it with path=)")
	f.StringVar(&s.config, "config", "", "TiKV encryption settings: a tikv.toml, or a file holding just its [security.encryption] table")
	f.StringVar(&s.spec, "enterprise-encryption", "", "CockroachDB encryption settings: path=DIR,key=FILE|plain,old-key=FILE|plain[,rotation-period=DURATION]")
	f.BoolVar(&s.allowLoose, "allow-loose-key-permissions", false, "accept master key files that group or others can read")
	return s
}

// load reads the settings the flags name and returns the store directory
// (absolute) and its configuration. Flag problems are usage errors;
// configuration problems are *engine.ConfigError (exit status 2 too).
func (s *storeFlags) load() (string, engine.Config, error) {
	var cfg engine.Config
	switch {
	case s.config != "" && s.spec != "":
		return "", cfg, usagef("give the store's encryption settings with --config (TiKV) or --enterprise-encryption (CockroachDB), not both")
	case s.config == "" && s.spec == "":
		return "", cfg, usagef("the store's encryption settings are required: --config FILE (TiKV's [security.encryption]) or --enterprise-encryption SPEC (CockroachDB's path=…,key=…,old-key=…)")
	case s.config != "":
		b, err := os.ReadFile(s.config)
		if err != nil {
			return "", cfg, usagef("--config: %w", err)
		}
		if cfg, err = engine.ParseTiKVConfig(b); err != nil {
			return "", cfg, fmt.Errorf("--config %s: %w", s.config, err)
		}
	default:
		var err error
		if cfg, err = engine.ParseCockroachSpec(s.spec); err != nil {
			return "", cfg, fmt.Errorf("--enterprise-encryption: %w", err)
		}
	}
	cfg.AllowLooseKeyPermissions = s.allowLoose

	dir := s.dir
	specPath := cfg.StorePath
	if specPath == "*" {
		specPath = ""
	}
	switch {
	case dir == "" && specPath == "":
		return "", cfg, usagef("--store is required: the store directory")
	case dir == "":
		dir = specPath
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", cfg, usagef("--store %s: %w", dir, err)
	}
	if specPath != "" && filepath.Clean(specPath) != abs {
		return "", cfg, usagef("--store %s and --enterprise-encryption path=%s name different stores", abs, specPath)
	}
	return abs, cfg, nil
}

// storeKind is what a directory must be for a command.
type storeKind int

const (
	tdeStore    storeKind = iota // has a key registry: tde has opened it
	pebbleStore                  // a tde store, or a Pebble store tde never opened
)

// checkStore makes sure dir is a store of the kind needed before anything
// (a LOCK file, a registry) is created in it.
func checkStore(dir string, need storeKind) error {
	fi, err := os.Stat(dir)
	if errors.Is(err, os.ErrNotExist) {
		return usagef("store directory %s does not exist", dir)
	}
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return usagef("--store %s is not a directory", dir)
	}
	if _, err := os.Stat(filepath.Join(dir, keys.RegistryFile)); err == nil {
		return nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if need == tdeStore {
		return usagef("%s is not an encrypted store: it has no key registry (%s), so tde has never opened it (to encrypt a Pebble store offline: tdectl migrate)",
			dir, keys.RegistryFile)
	}
	names, err := vfs.Default.List(dir)
	if err != nil {
		return err
	}
	if pebblefile.HoldsStore(names) {
		return nil
	}
	return usagef("%s is neither a tde store (no %s) nor a Pebble store (no MANIFEST)", dir, keys.RegistryFile)
}

// logger sends the engine's warnings (and, with -v, its information) to
// stderr, without timestamps. A new data key is always shown: opening a
// store for a command that changes it (rotate, reencrypt, migrate) makes
// one if the settings ask for it (the period elapsed, another method or
// master key). status and dump open it read-only and change nothing.
func (a *app) logger() *slog.Logger {
	level := slog.LevelWarn
	if a.verbose {
		level = slog.LevelInfo
	}
	h := slog.NewTextHandler(a.stderr, &slog.HandlerOptions{
		Level: slog.LevelInfo,
		ReplaceAttr: func(groups []string, at slog.Attr) slog.Attr {
			if len(groups) == 0 && at.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return at
		},
	})
	return slog.New(noteHandler{h, level})
}

// noteHandler passes records at min or above, and new data keys.
type noteHandler struct {
	slog.Handler
	min slog.Level
}

func (h noteHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < h.min && r.Message != "tde: new data key" {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h noteHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return noteHandler{h.Handler.WithAttrs(attrs), h.min}
}

func (h noteHandler) WithGroup(name string) slog.Handler {
	return noteHandler{h.Handler.WithGroup(name), h.min}
}

// session is a store opened for offline work: Pebble's LOCK held, then
// the engine's FS.
type session struct {
	dir  string
	fs   *engine.FS
	lock io.Closer
}

// lockStore takes the store's Pebble LOCK.
func lockStore(dir string) (io.Closer, error) {
	return engine.LockStore(vfs.Default, dir)
}

// openLocked opens the engine on a store whose LOCK lock is held.
func (a *app) openLocked(dir string, cfg engine.Config) (*engine.FS, error) {
	if cfg.Logger == nil {
		cfg.Logger = a.logger()
	}
	fs, err := engine.Open(vfs.Default, dir, cfg)
	if err != nil {
		return nil, fmt.Errorf("opening store %s: %w", dir, err)
	}
	return fs, nil
}

// open takes the store's LOCK and opens the engine on it. For a read-only
// cfg the LOCK is taken shared, without creating it or setting its mtime.
func (a *app) open(dir string, cfg engine.Config) (*session, error) {
	lock := lockStore
	if cfg.ReadOnly {
		lock = func(dir string) (io.Closer, error) { return engine.LockStoreReadOnly(vfs.Default, dir) }
	}
	l, err := lock(dir)
	if err != nil {
		return nil, err
	}
	fs, err := a.openLocked(dir, cfg)
	if err != nil {
		l.Close()
		return nil, err
	}
	return &session{dir: dir, fs: fs, lock: l}, nil
}

func (s *session) close() error {
	err := s.fs.Close()
	if lerr := s.lock.Close(); err == nil {
		err = lerr
	}
	if err != nil {
		return fmt.Errorf("closing store %s: %w", s.dir, err)
	}
	return nil
}

// withStore runs fn on the store the flags name, of the kind needed, and
// closes it; a close error is reported if fn succeeded.
func (a *app) withStore(sf *storeFlags, need storeKind, fn func(s *session, cfg engine.Config) error) error {
	return a.withStoreMode(sf, need, false, fn)
}

// inspectStore is withStore for commands that only look (status, dump):
// the store is opened read-only (engine.Config.ReadOnly) under Pebble's
// LOCK taken shared (engine.LockStoreReadOnly), and nothing on disk
// changes: no data key made, no file created, removed or rewritten.
func (a *app) inspectStore(sf *storeFlags, fn func(s *session, cfg engine.Config) error) error {
	return a.withStoreMode(sf, tdeStore, true, fn)
}

func (a *app) withStoreMode(sf *storeFlags, need storeKind, readOnly bool, fn func(s *session, cfg engine.Config) error) error {
	dir, cfg, err := sf.load()
	if err != nil {
		return err
	}
	if err := checkStore(dir, need); err != nil {
		return err
	}
	cfg.ReadOnly = readOnly
	s, err := a.open(dir, cfg)
	if err != nil {
		return err
	}
	err = fn(s, cfg)
	if cerr := s.close(); err == nil {
		err = cerr
	}
	return err
}

// commandContext is the command's context, or Background.
func commandContext(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}
