package main

import "github.com/tde-go/tde/engine"

// parseKeySpec reads a master key named on the command line by flag (--new,
// --old) with engine.ParseMasterKeySpec; a spec it cannot use is a usage
// error.
func parseKeySpec(flag, spec string) (engine.MasterKeyConfig, error) {
	mk, err := engine.ParseMasterKeySpec("--"+flag, spec)
	if err != nil {
		return engine.MasterKeyConfig{}, &usageError{err}
	}
	return mk, nil
}
