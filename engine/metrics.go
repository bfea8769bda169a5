package engine

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tde-go/tde/keys"
)

// metrics are the FS's Prometheus collectors. Byte counts are read from the
// FS's atomic counters at scrape time, so the I/O path pays one atomic add
// and no label lookup.
type metrics struct {
	reg        prometheus.Registerer
	collectors []prometheus.Collector
	dictWrite  prometheus.Histogram
	dictRead   prometheus.Histogram
}

func newMetrics(f *FS) *metrics {
	m := &metrics{
		dictWrite: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tde_dictionary_write_seconds",
			Help:    "Time to append and sync one file dictionary record.",
			Buckets: prometheus.ExponentialBuckets(10e-6, 4, 10),
		}),
		dictRead: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tde_dictionary_read_seconds",
			Help:    "Time to read and replay the file dictionary at open.",
			Buckets: prometheus.ExponentialBuckets(100e-6, 4, 10),
		}),
	}
	gauge := func(name, help string, fn func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, fn)
	}
	m.collectors = []prometheus.Collector{
		m.dictWrite, m.dictRead,
		gauge("tde_encryption_initialized", "1 if new files are encrypted, 0 if the method is plaintext.", func() float64 {
			if f.reg.Method() == keys.MethodPlaintext {
				return 0
			}
			return 1
		}),
		gauge("tde_data_keys", "Data keys in the key registry.", func() float64 { return float64(len(f.reg.Keys())) }),
		gauge("tde_encrypted_files", "Files in the dictionary with an encrypting method.", func() float64 { return float64(f.dict.encrypted()) }),
		gauge("tde_dictionary_entries", "Entries in the file dictionary.", func() float64 { return float64(f.dict.len()) }),
		gauge("tde_dictionary_bytes", "Size of the file dictionary's current log.", func() float64 { return float64(f.dict.size()) }),
		backendInfo(), // fips.go
	}
	for mth := keys.MethodAES128CTR; mth <= keys.MethodSM4CTR; mth++ {
		st := &f.stats[mth]
		lbl := prometheus.Labels{"method": mth.String()}
		m.collectors = append(m.collectors,
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tde_encrypted_bytes_total", Help: "Bytes encrypted on write, by method.", ConstLabels: lbl},
				func() float64 { return float64(st.encrypted.Load()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tde_decrypted_bytes_total", Help: "Bytes decrypted on read, by method.", ConstLabels: lbl},
				func() float64 { return float64(st.decrypted.Load()) }),
		)
	}
	return m
}

// register adds the collectors to r (nil: no metrics). Two stores in one
// process need distinct labels: wrap r with prometheus.WrapRegistererWith.
func (m *metrics) register(r prometheus.Registerer) error {
	if r == nil {
		return nil
	}
	for i, c := range m.collectors {
		if err := r.Register(c); err != nil {
			for _, d := range m.collectors[:i] {
				r.Unregister(d)
			}
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return &ConfigError{Setting: "Metrics", Reason: "tde's metrics are already registered (another open store?); give each store its own labels with prometheus.WrapRegistererWith", Err: err}
			}
			return &ConfigError{Setting: "Metrics", Reason: "cannot register tde's metrics", Err: err}
		}
	}
	m.reg = r
	return nil
}

func (m *metrics) unregister() {
	if m.reg == nil {
		return
	}
	for _, c := range m.collectors {
		m.reg.Unregister(c)
	}
	m.reg = nil
}

func (m *metrics) observeDictWrite(d time.Duration) { m.dictWrite.Observe(d.Seconds()) }
func (m *metrics) observeDictRead(d time.Duration)  { m.dictRead.Observe(d.Seconds()) }
