package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/tde-go/tde/engine"
	"github.com/tde-go/tde/keys"
)

// TestStatusRotateReencrypt drives a store through its life: plaintext
// Pebble files, then encryption enabled (a mix), reencrypt (all under the
// active key), rotate data-key (all under an older key), reencrypt again
// (all under the new key, the old key dropped); status's fractions follow,
// and every value reads back at the end.
func TestStatusRotateReencrypt(t *testing.T) {
	s := newMixedStore(t)
	flags := []string{"--store", s.dir, "--config", s.config}

	d := status(t, flags...)
	if d.Version != 1 || d.Store != s.dir || d.Method != "aes256-ctr" || d.ActiveKey == nil || d.Strict {
		t.Fatalf("status: %+v", d)
	}
	if d.Usage.Plaintext.Files == 0 || d.Usage.Active.Files == 0 || d.Usage.Older.Files != 0 ||
		d.Usage.Total.Files != d.Usage.Plaintext.Files+d.Usage.Active.Files {
		t.Fatalf("status after enabling encryption: %+v", d.Usage)
	}
	if f := d.Usage.Active.FilesFraction + d.Usage.Plaintext.FilesFraction; f < 0.999 || f > 1.001 {
		t.Errorf("fractions add up to %v", f)
	}
	if !strings.Contains(d.MasterKey, s.key) || len(d.DataKeys) != 1 || !d.DataKeys[0].Active || d.DataKeys[0].ID != d.ActiveKey.ID {
		t.Errorf("status keys: master %q, data keys %+v", d.MasterKey, d.DataKeys)
	}
	text := mustTdectl(t, append([]string{"status"}, flags...)...)
	for _, want := range []string{"aes256-ctr", d.ActiveKey.ID, s.key, "plaintext", "older keys", "active key", "AES-256-GCM"} {
		if !strings.Contains(text, want) {
			t.Errorf("status text lacks %q:\n%s", want, text)
		}
	}

	out := mustTdectl(t, append([]string{"reencrypt"}, flags...)...)
	if !strings.Contains(out, "rewrote") || !strings.Contains(out, d.ActiveKey.ID) {
		t.Errorf("reencrypt output:\n%s", out)
	}
	d2 := status(t, flags...)
	if d2.Usage.Active.FilesFraction != 1 || d2.Usage.Active.BytesFraction != 1 || d2.Usage.Active.Files != d.Usage.Total.Files {
		t.Fatalf("status after reencrypt: %+v", d2.Usage)
	}

	out = mustTdectl(t, append([]string{"rotate", "data-key"}, flags...)...)
	d3 := status(t, flags...)
	if d3.ActiveKey.ID == d2.ActiveKey.ID || !strings.Contains(out, d3.ActiveKey.ID) || !strings.Contains(out, d2.ActiveKey.ID) {
		t.Fatalf("rotate data-key said %q; active key %s, was %s", out, d3.ActiveKey.ID, d2.ActiveKey.ID)
	}
	if d3.Usage.Active.Files != 0 || d3.Usage.Older.FilesFraction != 1 || len(d3.DataKeys) != 2 {
		t.Fatalf("status after rotate data-key: %+v, %d keys", d3.Usage, len(d3.DataKeys))
	}

	out = mustTdectl(t, append([]string{"reencrypt"}, flags...)...)
	if !strings.Contains(out, "dropped 1 data key no file uses") {
		t.Errorf("reencrypt output:\n%s", out)
	}
	d4 := status(t, flags...)
	if d4.Usage.Active.FilesFraction != 1 || d4.Usage.Active.BytesFraction != 1 || len(d4.DataKeys) != 1 || d4.ActiveKey.ID != d3.ActiveKey.ID {
		t.Fatalf("status after the second reencrypt: %+v, keys %+v", d4.Usage, d4.DataKeys)
	}
	if out := mustTdectl(t, append([]string{"reencrypt"}, flags...)...); !strings.Contains(out, "nothing to do") {
		t.Errorf("a third reencrypt: %s", out)
	}
	readBack(t, s.dir, s.config, s.n)
}

// TestReencryptProgress: not on a terminal, progress is plain lines on
// stderr: the total, then the last; --quiet has none.
func TestReencryptProgress(t *testing.T) {
	s := newMixedStore(t)
	code, out, errs := tdectl(t, "reencrypt", "--store", s.dir, "--config", s.config)
	if code != 0 || !strings.Contains(errs, "reencrypt: ") || !strings.Contains(errs, "files, ") || !strings.Contains(errs, "(100%)") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	mustTdectl(t, "rotate", "data-key", "--store", s.dir, "--config", s.config)
	code, _, errs = tdectl(t, "reencrypt", "--quiet", "--store", s.dir, "--config", s.config)
	if code != 0 || errs != "" {
		t.Fatalf("--quiet: exit %d, stderr %q", code, errs)
	}
}

// TestDump: dump lists every file with its key and IV and the registry's
// keys, and never a key's bytes unless --show-keys, which warns.
func TestDump(t *testing.T) {
	s := newMixedStore(t)
	flags := []string{"--store", s.dir, "--config", s.config}

	// The data key's bytes, to look for.
	efs, err := engine.Open(vfs.Default, s.dir, loadConfig(t, s.config))
	if err != nil {
		t.Fatal(err)
	}
	id := efs.Status().ActiveKey.ID
	keyHex, err := efs.DataKeyHex(id)
	if err != nil {
		t.Fatal(err)
	}
	files, err := efs.Files()
	if err != nil {
		t.Fatal(err)
	}
	nfiles := len(files)
	efs.Close()

	for _, asJSON := range []bool{false, true} {
		args := append([]string{"dump"}, flags...)
		if asJSON {
			args = append(args, "--json")
		}
		code, out, errs := tdectl(t, args...)
		if code != 0 {
			t.Fatalf("dump: exit %d: %s", code, errs)
		}
		if strings.Contains(strings.ToLower(out+errs), keyHex) {
			t.Fatalf("dump (json %v) printed the data key without --show-keys", asJSON)
		}
		if !strings.Contains(out, keys.FormatID(id)) || !strings.Contains(out, "MANIFEST-") || !strings.Contains(out, keys.RegistryFile) {
			t.Errorf("dump (json %v):\n%s", asJSON, out)
		}
		if asJSON {
			var d dumpDoc
			if err := json.Unmarshal([]byte(out), &d); err != nil {
				t.Fatal(err)
			}
			plain, enc := 0, 0
			for _, f := range d.Files {
				switch {
				case !f.Entry && f.Method == "plaintext" && f.KeyID == "" && f.IV == "":
					plain++
				case f.Entry && f.KeyID == keys.FormatID(id) && len(f.IV) == 32 && f.Present:
					enc++
				default:
					t.Errorf("dump file %+v", f)
				}
			}
			if len(d.Files) != nfiles || plain == 0 || enc == 0 || len(d.DataKeys) != 1 || d.DataKeys[0].Key != "" {
				t.Errorf("dump --json: %d files (%d plaintext, %d encrypted), want %d; keys %+v", len(d.Files), plain, enc, nfiles, d.DataKeys)
			}
		} else if !strings.Contains(out, "no entry: plaintext from before encryption") {
			t.Errorf("dump does not mark files without entries:\n%s", out)
		}

		code, out, errs = tdectl(t, append(args, "--show-keys")...)
		if code != 0 || !strings.Contains(out, keyHex) || !strings.Contains(errs, "WARNING: --show-keys prints data keys in the clear") {
			t.Fatalf("dump --show-keys (json %v): exit %d, key shown %v, stderr:\n%s", asJSON, code, strings.Contains(out, keyHex), errs)
		}
	}
}

// TestRotateMasterKey rewraps the registry under a new key file, checked
// by reopening with it alone; the old key no longer opens the store, a
// second run has nothing to do, and a wrong --old is refused naming the
// key the registry wants.
func TestRotateMasterKey(t *testing.T) {
	s := newMixedStore(t)
	newKeyFile := newKey(t)
	flags := []string{"--store", s.dir, "--config", s.config}
	before := status(t, flags...)

	wrong := newKey(t)
	errs := wantFail(t, exitUsage, []string{keys.RegistryFile, "wrapped under"},
		append([]string{"rotate", "master-key", "--new", "file:" + newKeyFile, "--old", "file:" + wrong}, flags...)...)
	if !strings.Contains(errs, wrong) {
		t.Errorf("wrong --old: error does not name the key tried:\n%s", errs)
	}

	out := mustTdectl(t, append([]string{"rotate", "master-key", "--new", "file:" + newKeyFile, "--old", "file:" + s.key}, flags...)...)
	for _, want := range []string{"rewrapped", newKeyFile, "checked", "new active data key"} {
		if !strings.Contains(out, want) {
			t.Errorf("rotate master-key output lacks %q:\n%s", want, out)
		}
	}
	// The old settings no longer open the store; the new ones do.
	wantFail(t, exitUsage, []string{keys.RegistryFile, s.key}, append([]string{"status"}, flags...)...)
	newConfig := writeConfig(t, "aes256-ctr", newKeyFile)
	after := status(t, "--store", s.dir, "--config", newConfig)
	if !strings.Contains(after.MasterKey, newKeyFile) || after.ActiveKey.ID == before.ActiveKey.ID {
		t.Errorf("after rotate master-key: master %s, active key %s (was %s)", after.MasterKey, after.ActiveKey.ID, before.ActiveKey.ID)
	}
	out = mustTdectl(t, "rotate", "master-key", "--store", s.dir, "--config", newConfig, "--old", "file:"+s.key)
	if !strings.Contains(out, "nothing to do") {
		t.Errorf("second rotation: %s", out)
	}
	// To no master key at all, and back, with the settings naming both.
	mustTdectl(t, "rotate", "master-key", "--store", s.dir, "--config", newConfig, "--new", "plaintext", "--old", "file:"+newKeyFile)
	if d := status(t, "--store", s.dir, "--config", writeConfig(t, "aes256-ctr", "")); !strings.Contains(d.MasterKey, "plaintext") {
		t.Errorf("master key after rotating to plaintext: %s", d.MasterKey)
	}
	mustTdectl(t, "rotate", "master-key", "--store", s.dir, "--config", newConfig, "--old", "plaintext")
	readBack(t, s.dir, newConfig, s.n)
}

// TestEnterpriseEncryption: a store run under CockroachDB's spec is
// operated with --enterprise-encryption, which may name the store itself.
func TestEnterpriseEncryption(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data1")
	key := filepath.Join(t.TempDir(), "aes-128.key")
	mustTdectl(t, "keygen", "--format", "raw", "--size", "128", key)
	spec := "path=" + dir + ",key=" + key + ",old-key=plain"
	cfg, err := engine.ParseCockroachSpec(spec)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	efs, err := engine.Open(vfs.Default, dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	efs.Close()
	d := status(t, "--enterprise-encryption", spec)
	if d.Method != "aes128-ctr" || d.Store != dir || !strings.Contains(d.MasterKey, "AES-128-GCM") {
		t.Fatalf("status: %+v", d)
	}
	status(t, "--store", dir, "--enterprise-encryption", spec)
	wantFail(t, exitUsage, []string{"--store", "path=" + dir, "different stores"},
		"status", "--store", t.TempDir(), "--enterprise-encryption", spec)
	wantFail(t, exitUsage, []string{"--store is required"},
		"status", "--enterprise-encryption", "path=*,key="+key+",old-key=plain")
	wantFail(t, exitUsage, []string{"rotation-perio", "unknown field"},
		"status", "--enterprise-encryption", spec+",rotation-perio=1h")
	mustTdectl(t, "rotate", "data-key", "--enterprise-encryption", spec)
	mustTdectl(t, "reencrypt", "--enterprise-encryption", spec)
}

// TestMigrate takes a plain Pebble store tde never opened to aes128-ctr
// under one key, then to sm4-ctr under another, then back to plaintext:
// each step leaves every file where the settings say, and every value
// readable.
func TestMigrate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	const n = 1200
	fill(t, dir, "", 0, n)
	wantFail(t, exitUsage, []string{dir, "not an encrypted store", "migrate"}, "status", "--store", dir, "--config", writeConfig(t, "aes128-ctr", newKey(t)))

	k1, k2 := newKey(t), newKey(t)
	c1 := writeConfig(t, "aes128-ctr", k1)
	out := mustTdectl(t, "migrate", "--store", dir, "--config", c1)
	if !strings.Contains(out, "migrated") || !strings.Contains(out, "checked") {
		t.Errorf("migrate output:\n%s", out)
	}
	d := status(t, "--store", dir, "--config", c1)
	if d.Method != "aes128-ctr" || d.Usage.Active.FilesFraction != 1 {
		t.Fatalf("after migrating to aes128-ctr: %+v", d)
	}
	readBack(t, dir, c1, n)

	c2 := writeConfig(t, "sm4-ctr", k2)
	wantFail(t, exitUsage, []string{"wrapped under"}, "migrate", "--store", dir, "--config", c2)
	mustTdectl(t, "migrate", "--store", dir, "--config", c2, "--old", "file:"+k1)
	d = status(t, "--store", dir, "--config", c2)
	if d.Method != "sm4-ctr" || d.Usage.Active.FilesFraction != 1 || len(d.DataKeys) != 1 || !strings.Contains(d.MasterKey, k2) {
		t.Fatalf("after migrating to sm4-ctr: %+v", d)
	}
	readBack(t, dir, c2, n)

	off := writeConfig(t, "plaintext", "")
	code, out, errs := tdectl(t, "migrate", "--store", dir, "--config", off, "--old", "file:"+k2)
	if code != 0 || !strings.Contains(errs, "WARNING") || !strings.Contains(errs, "UNENCRYPTED") || !strings.Contains(out, "every file is plaintext") {
		t.Fatalf("migrate to plaintext: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	d = status(t, "--store", dir, "--config", off)
	if d.ActiveKey != nil || d.Usage.Plaintext.FilesFraction != 1 || len(d.DataKeys) != 0 {
		t.Fatalf("after migrating to plaintext: %+v", d)
	}
	readBack(t, dir, off, n)
}

// TestReencryptToPlaintext: with the method set to plaintext, reencrypt
// decrypts every file, and says so on stderr.
func TestReencryptToPlaintext(t *testing.T) {
	s := newMixedStore(t)
	off := writeConfig(t, "plaintext", s.key)
	code, _, errs := tdectl(t, "reencrypt", "--store", s.dir, "--config", off)
	if code != 0 || !strings.Contains(errs, "UNENCRYPTED") {
		t.Fatalf("exit %d, stderr:\n%s", code, errs)
	}
	d := status(t, "--store", s.dir, "--config", off)
	if d.Usage.Plaintext.FilesFraction != 1 || d.ActiveKey != nil {
		t.Fatalf("after reencrypt to plaintext: %+v", d)
	}
	wantFail(t, exitFailed, []string{"plaintext", "no data key to rotate"}, "rotate", "data-key", "--store", s.dir, "--config", off)
	readBack(t, s.dir, off, s.n)
}

// TestLockedStore: with Pebble's LOCK held (as a running program holds
// it), every command that opens a store fails with status 1, names the
// store, and changes nothing.
func TestLockedStore(t *testing.T) {
	s := newMixedStore(t)
	// tree reads LOCK, and closing a descriptor of it would release the
	// lock: take the snapshot first.
	before := tree(t, s.dir)
	lock, err := vfs.Default.Lock(filepath.Join(s.dir, "LOCK"))
	if err != nil {
		t.Fatal(err)
	}
	flags := []string{"--store", s.dir, "--config", s.config}
	for _, cmd := range [][]string{
		{"status"}, {"dump"}, {"rotate", "data-key"},
		{"rotate", "master-key", "--new", "file:" + newKey(t), "--old", "file:" + s.key},
		{"reencrypt"}, {"migrate"},
	} {
		wantFail(t, exitFailed, []string{s.dir, "in use", "LOCK"}, append(cmd, flags...)...)
	}
	if tree(t, s.dir) != before {
		t.Fatal("a command changed a locked store")
	}
	lock.Close()
	mustTdectl(t, append([]string{"status"}, flags...)...)
}

// TestBadInput: bad values for every store flag are exit status 2 with an
// error naming the flag, setting or file, and change nothing.
func TestBadInput(t *testing.T) {
	s := newMixedStore(t)
	before := tree(t, s.dir)
	tmp := t.TempDir()
	notStore := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(tmp, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	badTOML := write("bad.toml", "[security.encryption]\ndata-encryption-method = \"aes512-ctr\"\n", 0o644)
	typo := write("typo.toml", "[security.encryption]\ndata_encryption_method = \"aes128-ctr\"\n", 0o644)
	syntax := write("syntax.toml", "[security.encryption\n", 0o644)
	looseKey := write("loose.key", strings.Repeat("ab", 32)+"\n", 0o644)
	loose := writeConfig(t, "aes256-ctr", looseKey)
	badKey := write("bad.key", "not a key\n", 0o600)
	badKeyConfig := writeConfig(t, "aes256-ctr", badKey)
	missingKey := writeConfig(t, "aes256-ctr", filepath.Join(tmp, "missing.key"))
	wrongKey := writeConfig(t, "aes256-ctr", newKey(t))
	cfg := []string{"--config", s.config}
	store := []string{"--store", s.dir}

	cases := []struct {
		args []string
		want []string
	}{
		{append([]string{"status"}, cfg...), []string{"--store is required"}},
		{[]string{"status", "--store", s.dir}, []string{"--config", "--enterprise-encryption", "required"}},
		{append(append([]string{"status", "--enterprise-encryption", "path=" + s.dir + ",key=plain,old-key=plain"}, store...), cfg...), []string{"not both"}},
		{append([]string{"status", "--store", filepath.Join(tmp, "nope")}, cfg...), []string{filepath.Join(tmp, "nope"), "does not exist"}},
		{append([]string{"status", "--store", badTOML}, cfg...), []string{badTOML, "not a directory"}},
		{append([]string{"status", "--store", notStore}, cfg...), []string{notStore, "not an encrypted store", keys.RegistryFile}},
		{append([]string{"reencrypt", "--store", notStore}, cfg...), []string{notStore, "neither a tde store", "nor a Pebble store"}},
		{append([]string{"status", "--config", filepath.Join(tmp, "none.toml")}, store...), []string{"--config", "none.toml"}},
		{append([]string{"status", "--config", badTOML}, store...), []string{"data-encryption-method", "aes512-ctr"}},
		{append([]string{"status", "--config", typo}, store...), []string{"data_encryption_method", "did you mean"}},
		{append([]string{"status", "--config", syntax}, store...), []string{"line 1"}},
		{append([]string{"status", "--config", loose}, store...), []string{looseKey, "group or others", "--allow-loose-key-permissions"}},
		{append([]string{"status", "--config", badKeyConfig}, store...), []string{badKey, "master-key.path"}},
		{append([]string{"status", "--config", missingKey}, store...), []string{"missing.key"}},
		{append([]string{"status", "--config", wrongKey}, store...), []string{keys.RegistryFile, "wrapped under"}},
		{append(append([]string{"status", "--json=maybe"}, store...), cfg...), []string{"--json", "maybe"}},
		{append(append([]string{"status", "extra"}, store...), cfg...), []string{"takes no arguments", "extra"}},
		{append(append([]string{"status", "--nope"}, store...), cfg...), []string{"--nope"}},
		{[]string{"bogus"}, []string{"unknown command", "bogus"}},
		{[]string{"rotate"}, []string{"data-key or master-key"}},
		{append(append([]string{"rotate", "keys"}, store...), cfg...), []string{"keys", "data-key or master-key"}},
		{append(append([]string{"rotate", "master-key", "--new", "hex:/x"}, store...), cfg...), []string{"--new", "hex", "file:PATH"}},
		{append(append([]string{"rotate", "master-key", "--new", "/etc/key"}, store...), cfg...), []string{"--new", "no kind"}},
		{append(append([]string{"rotate", "master-key", "--new", "file:" + filepath.Join(tmp, "nokey")}, store...), cfg...), []string{"--new", "nokey"}},
		{append(append([]string{"rotate", "master-key", "--old", "kms:"}, store...), cfg...), []string{"--old", "no KMS key id"}},
		{append(append([]string{"rotate", "master-key", "--old", "kms:alias/x,zone=1"}, store...), cfg...), []string{"--old", "zone"}},
		{append(append([]string{"migrate", "--old", "raw:"}, store...), cfg...), []string{"--old", "no key file"}},
		{append(append([]string{"reencrypt", "--quiet=2"}, store...), cfg...), []string{"--quiet"}},
	}
	for _, c := range cases {
		wantFail(t, exitUsage, c.want, c.args...)
	}
	if tree(t, s.dir) != before {
		t.Fatal("bad input changed the store")
	}
	// The loose key is accepted when asked for.
	code, _, errs := tdectl(t, append([]string{"status", "--config", loose, "--allow-loose-key-permissions"}, store...)...)
	if code != exitUsage || !strings.Contains(errs, "wrapped under") {
		t.Errorf("--allow-loose-key-permissions: exit %d, %s", code, errs)
	}
}

// TestParseKeySpec reads every kind of master key the command line takes.
func TestParseKeySpec(t *testing.T) {
	f := filepath.Join(t.TempDir(), "k")
	os.WriteFile(f, nil, 0o600)
	for spec, want := range map[string]engine.MasterKeyConfig{
		"plaintext":   {Type: "plaintext"},
		"plain":       {Type: "plaintext"},
		"file:" + f:   {Type: "file", Path: f},
		"RAW:" + f:    {Type: "raw", Path: f},
		"kms:alias/x": {Type: "kms", KMS: keys.KMSConfig{KeyID: "alias/x"}},
		"kms:arn:aws:kms:us-west-2:111122223333:key/1234, region=us-west-2 ,endpoint=http://127.0.0.1:4566": {Type: "kms",
			KMS: keys.KMSConfig{KeyID: "arn:aws:kms:us-west-2:111122223333:key/1234", Region: "us-west-2", Endpoint: "http://127.0.0.1:4566"}},
		"kms:alias/x,endpoint=http://127.0.0.1:4566,allow-insecure-endpoint=true": {Type: "kms",
			KMS: keys.KMSConfig{KeyID: "alias/x", Endpoint: "http://127.0.0.1:4566", AllowInsecureEndpoint: true}},
	} {
		got, err := parseKeySpec("new", spec)
		if err != nil || got.Type != want.Type || got.Path != want.Path || got.KMS != want.KMS {
			t.Errorf("parseKeySpec(%q) = %+v, %v; want %+v", spec, got, err, want)
		}
	}
	for _, spec := range []string{"", "file:", "kms:", "kms:a,region", "kms:a,region=x,region=y", "kms:a,allow-insecure-endpoint=maybe", "aws:x", "x"} {
		if _, err := parseKeySpec("new", spec); err == nil || exitCode(err) != exitUsage || !strings.Contains(err.Error(), "--new") {
			t.Errorf("parseKeySpec(%q) = %v, want a usage error naming --new", spec, err)
		}
	}
}

// TestHelp: every command's help has examples and exits 0.
func TestHelp(t *testing.T) {
	for _, cmd := range [][]string{
		{}, {"keygen"}, {"status"}, {"dump"}, {"rotate"}, {"rotate", "data-key"}, {"rotate", "master-key"}, {"reencrypt"}, {"migrate"},
	} {
		out := mustTdectl(t, append(cmd, "--help")...)
		if !strings.Contains(out, "Examples:") || !strings.Contains(out, "tdectl") {
			t.Errorf("tdectl %v --help has no examples:\n%s", cmd, out)
		}
	}
	out := mustTdectl(t, "--help")
	for _, want := range []string{"Exit status", "0  success", "1  the operation failed", "2  bad usage", "file:PATH", "kms:KEY-ID"} {
		if !strings.Contains(out, want) {
			t.Errorf("root help lacks %q", want)
		}
	}
}

// TestOpenRotationIsShown: a command that changes the store shows the data
// key its open makes when the settings ask for one (another method here);
// status, which opens the store read-only, makes none and changes nothing.
func TestOpenRotationIsShown(t *testing.T) {
	s := newMixedStore(t)
	other := writeConfig(t, "aes128-ctr", s.key)
	before := tree(t, s.dir)
	code, out, errs := tdectl(t, "status", "--store", s.dir, "--config", other)
	if code != 0 || strings.Contains(errs, "new data key") || !strings.Contains(out, "aes256-ctr") || tree(t, s.dir) != before {
		t.Fatalf("status with another method: exit %d, store changed %v\nstdout:\n%s\nstderr:\n%s", code, tree(t, s.dir) != before, out, errs)
	}
	code, out, errs = tdectl(t, "reencrypt", "--store", s.dir, "--config", other)
	if code != 0 || !strings.Contains(errs, "new data key") || !strings.Contains(errs, "aes128-ctr") {
		t.Fatalf("reencrypt with another method: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	if _, _, errs := tdectl(t, "status", "--store", s.dir, "--config", other); errs != "" {
		t.Errorf("a status after the rotation logged:\n%s", errs)
	}
}

// TestLostDictionaryRefused: a store whose dictionary marker is gone is
// refused by status, exit 1, with an error that names what it found and
// says to restore tde's files, the store as it was. On main status opened
// it as a fresh store.
func TestLostDictionaryRefused(t *testing.T) {
	dir := t.TempDir()
	config := writeConfig(t, "aes256-ctr", newKey(t))
	fill(t, dir, config, 0, 50)
	markers, err := filepath.Glob(filepath.Join(dir, "marker.tde-dict.*"))
	if err != nil || len(markers) == 0 {
		t.Fatalf("no dictionary marker in %s: %v", dir, err)
	}
	for _, m := range markers {
		if err := os.Remove(m); err != nil {
			t.Fatal(err)
		}
	}
	before := tree(t, dir)
	wantFail(t, 1, []string{"marker.tde-dict.*", "TDE-DICT-000001", "left unchanged", "restore tde's files"},
		"status", "--store", dir, "--config", config)
	if after := tree(t, dir); after != before {
		t.Error("a refused status changed the store")
	}
}
