package engine

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// TestDictTrace runs the step-by-step dictionary traces in testdata/dict:
// each command's output is every FS operation it made (through
// vfs.WithLogging), then the outcome, so the order of writes, syncs and
// renames can be read and reviewed by eye.
//
//	open [strict]        read and start the dictionary in /s
//	put PATH I           record PATH with testEntry(I)
//	create PATH I        the create path: testEntry(I)'s key, under an epoch
//	                     (which it may begin) when the file is in /s
//	move FROM TO         record the move of FROM's entry to TO
//	remove PATH          drop PATH's entry
//	rewrite              rewrite the log into a new one
//	close                close the dictionary
//	touch PATH | rm PATH | mv FROM TO | sync-dir
//	                     change the store directory behind the dictionary
//	crash [all]          keep only what was synced (all: and every unsynced
//	                     change too, each directory entry on its own); the
//	                     dictionary is lost
//	list                 the entries: path, key id, method
func TestDictTrace(t *testing.T) {
	datadriven.Walk(t, "testdata/dict", func(t *testing.T, path string) {
		mem := vfs.NewCrashableMem()
		noErr(t, mem.MkdirAll(testDictDir, 0o755))
		noErr(t, syncDirectory(mem, "/"))
		var (
			fs  vfs.FS = mem
			d   *dictionary
			out strings.Builder
		)
		logged := func() vfs.FS {
			return vfs.WithLogging(fs, func(format string, args ...any) {
				fmt.Fprintf(&out, format+"\n", args...)
			})
		}
		abs := func(rel string) string { return fs.PathJoin(testDictDir, rel) }
		datadriven.RunTest(t, path, func(t *testing.T, td *datadriven.TestData) string {
			out.Reset()
			arg := func(i int) string {
				if i >= len(td.CmdArgs) {
					td.Fatalf(t, "%s: argument %d missing", td.Cmd, i+1)
				}
				return td.CmdArgs[i].Key
			}
			var err error
			switch td.Cmd {
			case "open":
				d, err = readDictionary(logged(), testDictDir, quietOpts())
				if err == nil {
					err = d.start(td.HasArg("strict"))
				}
			case "put":
				i, perr := strconv.Atoi(arg(1))
				noErr(t, perr)
				err = d.put(arg(0), testEntry(i))
			case "create":
				i, perr := strconv.Atoi(arg(1))
				noErr(t, perr)
				var e entry
				if e, err = d.create(arg(0), testEntry(i), true); err == nil {
					fmt.Fprintf(&out, "entry: key %d %v\n", e.KeyID, e.Method)
				}
			case "move":
				e, ok := d.get(arg(0))
				if !ok {
					td.Fatalf(t, "move: %s has no entry", arg(0))
				}
				err = d.move(arg(0), arg(1), e)
			case "remove":
				err = d.remove(arg(0))
			case "rewrite":
				d.wmu.Lock()
				err = d.rewrite()
				d.wmu.Unlock()
			case "close":
				err = d.close()
			case "touch":
				touchRel(t, fs, arg(0))
			case "rm":
				err = fs.Remove(abs(arg(0)))
			case "mv":
				err = fs.Rename(abs(arg(0)), abs(arg(1)))
			case "sync-dir":
				err = syncDirectory(fs, testDictDir)
			case "crash":
				cfg := vfs.CrashCloneCfg{UnsyncedDataPercent: 0}
				if td.HasArg("all") { // keep every unsynced change too
					cfg = vfs.CrashCloneCfg{UnsyncedDataPercent: 100, RNG: rand.New(rand.NewPCG(1, 1))}
				}
				fs = mem.CrashClone(cfg)
				mem = fs.(*vfs.MemFS)
				d = nil
			case "list":
				var lines []string
				d.each(func(rel string, e entry) {
					lines = append(lines, fmt.Sprintf("%s: key %d %v", rel, e.KeyID, e.Method))
				})
				if len(lines) == 0 {
					return "(no entries)\n"
				}
				slices.Sort(lines)
				return strings.Join(lines, "\n") + "\n"
			default:
				td.Fatalf(t, "unknown command %q", td.Cmd)
			}
			if err != nil {
				fmt.Fprintf(&out, "error: %v\n", err)
			}
			return out.String()
		})
	})
}
