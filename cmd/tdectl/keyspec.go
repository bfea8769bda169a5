package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/tde-go/tde/engine"
	"github.com/tde-go/tde/keys"
)

// keySpecSyntax is what --new and --old take.
const keySpecSyntax = "file:PATH (TiKV hex key file), raw:PATH (CockroachDB key file), kms:KEY-ID[,region=R][,endpoint=URL][,allow-insecure-endpoint=true] or plaintext"

// parseKeySpec reads a master key named on the command line by flag:
//
//	file:/etc/tde/master.key
//	raw:/keys/aes-256.key
//	kms:alias/tde,region=us-west-2,endpoint=https://kms.example.com
//	plaintext
//
// Key files must exist; they are read, and checked, when the store opens.
func parseKeySpec(flag, spec string) (engine.MasterKeyConfig, error) {
	bad := func(reason string) error {
		return usagef("--%s %q: %s; expected %s", flag, spec, reason, keySpecSyntax)
	}
	kind, rest, ok := strings.Cut(spec, ":")
	kind = strings.ToLower(strings.TrimSpace(kind))
	if !ok {
		if kind == keys.KindPlaintext || kind == "plain" {
			return engine.MasterKeyConfig{Type: keys.KindPlaintext}, nil
		}
		if kind == "" {
			return engine.MasterKeyConfig{}, bad("empty")
		}
		return engine.MasterKeyConfig{}, bad("no kind")
	}
	switch kind {
	case keys.KindFile, keys.KindRaw:
		if rest == "" {
			return engine.MasterKeyConfig{}, bad("no key file")
		}
		path, err := filepath.Abs(rest)
		if err != nil {
			return engine.MasterKeyConfig{}, bad(err.Error())
		}
		fi, err := os.Stat(path)
		if err != nil {
			return engine.MasterKeyConfig{}, usagef("--%s: key file: %w", flag, err)
		}
		if !fi.Mode().IsRegular() {
			return engine.MasterKeyConfig{}, usagef("--%s: key file %s is not a regular file", flag, path)
		}
		return engine.MasterKeyConfig{Type: kind, Path: path}, nil
	case keys.KindKMS:
		parts := strings.Split(rest, ",")
		k := keys.KMSConfig{KeyID: strings.TrimSpace(parts[0])}
		if k.KeyID == "" {
			return engine.MasterKeyConfig{}, bad("no KMS key id")
		}
		seen := map[string]bool{}
		for _, p := range parts[1:] {
			name, value, ok := strings.Cut(strings.TrimSpace(p), "=")
			name = strings.ToLower(strings.TrimSpace(name))
			value = strings.TrimSpace(value)
			if !ok || value == "" {
				return engine.MasterKeyConfig{}, bad(fmt.Sprintf("%q is not name=value", p))
			}
			if seen[name] {
				return engine.MasterKeyConfig{}, bad(name + " given twice")
			}
			seen[name] = true
			switch name {
			case "region":
				k.Region = value
			case "endpoint":
				k.Endpoint = value
			case "allow-insecure-endpoint":
				allow, err := strconv.ParseBool(value)
				if err != nil {
					return engine.MasterKeyConfig{}, bad(fmt.Sprintf("allow-insecure-endpoint=%q is not true or false", value))
				}
				k.AllowInsecureEndpoint = allow
			default:
				return engine.MasterKeyConfig{}, bad(fmt.Sprintf("unknown KMS setting %q (region, endpoint, allow-insecure-endpoint)", name))
			}
		}
		return engine.MasterKeyConfig{Type: keys.KindKMS, KMS: k}, nil
	}
	return engine.MasterKeyConfig{}, bad(fmt.Sprintf("unknown kind %q", kind))
}
