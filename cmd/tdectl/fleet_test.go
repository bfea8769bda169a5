package main

import (
	"bytes"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2"
)

// TestKMSFleet: three stores, the nodes of one cluster, wrapped under one
// KMS key (README, "Running a fleet"). Each store has a registry key of
// its own: creating one costs one GenerateDataKey, opening one exactly one
// Decrypt, counted by a proxy in front of local-kms that the stores reach
// through their endpoint setting. A master-key rotation to a second KMS
// key rolls store by store while every store reads and writes: each
// rotation costs one GenerateDataKey and no Decrypt, and the store being
// rotated, like the others, never stops. Afterwards tdectl status on each
// names the new key, and the old key alone opens none.
func TestKMSFleet(t *testing.T) {
	srv, _, _ := kmsSetup(t, "alias/fleet-1", "alias/fleet-2")
	kms := srv.NewCounter()
	config1, config2 := writeKMSConfig(t, "alias/fleet-1", kms.URL), writeKMSConfig(t, "alias/fleet-2", kms.URL)
	root := t.TempDir()
	dirs := []string{filepath.Join(root, "node1"), filepath.Join(root, "node2"), filepath.Join(root, "node3")}

	for _, dir := range dirs {
		fill(t, dir, config1, 0, 300)
	}
	if g, d := kms.Count("GenerateDataKey"), kms.Count("Decrypt"); g != 3 || d != 0 {
		t.Fatalf("creating three stores: %d GenerateDataKey and %d Decrypt calls, want 3 and 0", g, d)
	}

	nodes := make([]*liveStore, len(dirs))
	for i, dir := range dirs {
		before := kms.Count("Decrypt")
		nodes[i] = openLive(t, dir, loadConfig(t, config1))
		if n := kms.Count("Decrypt") - before; n != 1 {
			t.Errorf("opening %s cost %d Decrypt calls, want 1", dir, n)
		}
	}
	if n := kms.Total(); n != 6 {
		t.Errorf("three creates and three opens made %d KMS calls, want 6", n)
	}

	// Every node reads and writes until the rollout is done.
	var stop atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, len(nodes))
	written := make([]atomic.Int64, len(nodes))
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- n.churn(&stop, &written[i])
		}()
	}
	for i, n := range nodes {
		before := written[i].Load()
		generates, decrypts := kms.Count("GenerateDataKey"), kms.Count("Decrypt")
		if err := n.fs.RotateMasterKey(kmsMaster("alias/fleet-2", kms.URL)); err != nil {
			t.Fatalf("rotating %s: %v", n.dir, err)
		}
		if g, d := kms.Count("GenerateDataKey")-generates, kms.Count("Decrypt")-decrypts; g != 1 || d != 0 {
			t.Errorf("rotating %s: %d GenerateDataKey and %d Decrypt calls, want 1 and 0", n.dir, g, d)
		}
		for j, m := range nodes {
			want := "alias/fleet-1"
			if j <= i {
				want = "alias/fleet-2"
			}
			if got := m.fs.Status().MasterKey; !strings.Contains(got, want) {
				t.Errorf("after rotating node %d, node %d is under %s, want %s", i+1, j+1, got, want)
			}
		}
		for written[i].Load() < before+50 && len(errs) == 0 { // the rotated node goes on writing
			runtime.Gosched()
		}
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range nodes {
		n.close()
	}

	for i, dir := range dirs {
		d := status(t, "--store", dir, "--config", config2)
		if !strings.Contains(d.MasterKey, `kms master key "alias/fleet-2"`) {
			t.Errorf("tdectl status on %s names %q, want alias/fleet-2", dir, d.MasterKey)
		}
		wantFail(t, exitUsage, []string{"wrapped under master key kms alias/fleet-2"}, "status", "--store", dir, "--config", config1)
		readBack(t, dir, config2, 300)
		if w := written[i].Load(); w < 50 {
			t.Errorf("node %d wrote only %d keys during the rollout", i+1, w)
		}
	}
}

// churn writes new keys and reads old ones back until stop, counting the
// keys written in n.
func (s *liveStore) churn(stop *atomic.Bool, n *atomic.Int64) error {
	for i := 0; !stop.Load(); i++ {
		k := fmt.Appendf(nil, "churn-%08d", i)
		if err := s.db.Set(k, k, pebble.NoSync); err != nil {
			return fmt.Errorf("%s: set: %w", s.dir, err)
		}
		n.Add(1)
		if i%100 == 99 {
			if err := s.db.Flush(); err != nil {
				return fmt.Errorf("%s: flush: %w", s.dir, err)
			}
		}
		j := i % 300
		v, c, err := s.db.Get(testKey(j))
		if err != nil {
			return fmt.Errorf("%s: get %d: %w", s.dir, j, err)
		}
		ok := bytes.Equal(v, testValue(j))
		c.Close()
		if !ok {
			return fmt.Errorf("%s: key %d reads wrong", s.dir, j)
		}
	}
	return nil
}
