package pebblefile

import "testing"

// TestNames pins the names to Pebble's spelling: a rename in Pebble must
// fail here, not as a store tdectl no longer recognizes.
func TestNames(t *testing.T) {
	for name, want := range map[string]bool{
		"000005.sst": true, "dir/000006.blob": true, "OPTIONS-000003": true,
		"000004.log": false, "MANIFEST-000001": false, "marker.manifest.000001.MANIFEST-000001": false, "LOCK": false,
	} {
		if got := Immutable(name); got != want {
			t.Errorf("Immutable(%q) = %v, want %v", name, got, want)
		}
	}
	for _, c := range []struct {
		names []string
		want  bool
	}{
		{[]string{"LOCK", "MANIFEST-000001"}, true},
		{[]string{"marker.manifest.000002.MANIFEST-000001"}, true},
		{[]string{"CURRENT"}, true},
		{[]string{"LOCK", "000004.log", "OPTIONS-000003", "marker.format-version.000001.013"}, false},
		{nil, false},
	} {
		if got := HoldsStore(c.names); got != c.want {
			t.Errorf("HoldsStore(%q) = %v, want %v", c.names, got, c.want)
		}
	}
}
