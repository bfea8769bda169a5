package engine

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

// FuzzDictionaryDecode feeds arbitrary bytes as the current log: reading
// noErr not panic, and any error noErr be ErrCorruptDictionary. A log that
// reads noErr also start (a rewrite, since its files are missing).
func FuzzDictionaryDecode(f *testing.F) {
	for _, log := range seedLogs(f) {
		f.Add(log)
		if len(log) > 20 {
			f.Add(log[:len(log)-5])
			flipped := slices.Clone(log)
			flipped[len(log)/2] ^= 0x10
			f.Add(flipped)
		}
	}
	f.Add([]byte{})
	f.Add([]byte(dictMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		fs := newDictStore(t)
		writeBytes(t, fs, testDictDir+"/TDE-DICT-000001", data)
		setDictMarker(t, fs, "TDE-DICT-000001")
		touchRel(t, fs, "000001.sst")
		d, err := readDictionary(fs, testDictDir, quietOpts())
		if err != nil {
			if !errors.Is(err, ErrCorruptDictionary) {
				t.Fatalf("error %v is not ErrCorruptDictionary", err)
			}
			return
		}
		d.get("000001.sst")
		if err := d.start(false); err != nil {
			t.Fatalf("start of a log that read: %v", err)
		}
		if err := d.close(); err != nil {
			t.Fatal(err)
		}
	})
}

// seedLogs returns real logs: every op, a rewrite, a pending move, an epoch.
func seedLogs(t testing.TB) [][]byte {
	var logs [][]byte
	fs := newDictStore(t)
	d := mustOpenDict(t, fs, dictOptions{RewriteThreshold: 6, Logger: quietOpts().Logger})
	logs = append(logs, readBytes(t, fs, d.logPath()))
	for i := range 4 {
		putFile(t, fs, d, fmt.Sprintf("%06d.sst", i), testEntry(i))
	}
	putFile(t, fs, d, "wal/000001.log", testEntry(8))
	putFile(t, fs, d, "../waldir/000002.log", testEntry(9))
	if err := d.move("000000.sst", "000009.sst", testEntry(0)); err != nil {
		t.Fatal(err)
	}
	if err := d.remove("000001.sst"); err != nil {
		t.Fatal(err)
	}
	if err := d.removePrefix("wal"); err != nil {
		t.Fatal(err)
	}
	logs = append(logs, readBytes(t, fs, d.logPath()))
	// An epoch: begun by a create, a file it implies, an exclusion (whose
	// append writes the implied file's record); the rewrite below carries
	// it into a snapshot.
	for _, n := range []string{"000010.sst", "000011.sst"} {
		if _, err := d.create(n, testEntry(1), true); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.exclude("LOCK"); err != nil {
		t.Fatal(err)
	}
	logs = append(logs, readBytes(t, fs, d.logPath()))
	if err := d.move("000002.sst", "000003.sst", testEntry(4)); err != nil {
		t.Fatal(err)
	}
	for d.logPath() == testDictDir+"/TDE-DICT-000001" {
		putFile(t, fs, d, "000005.sst", testEntry(5))
	}
	logs = append(logs, readBytes(t, fs, d.logPath()))
	mustCloseDict(t, d)
	return logs
}
