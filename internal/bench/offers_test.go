package bench

import (
	"testing"
)

func TestParseLimiterWait(t *testing.T) {
	page := `# HELP offerflow_dodo_rate_limit_wait_seconds Time a request to Dodo's API waited.
# TYPE offerflow_dodo_rate_limit_wait_seconds histogram
offerflow_dodo_rate_limit_wait_seconds_bucket{operation="list_payment_methods",le="0.01"} 40
offerflow_dodo_rate_limit_wait_seconds_bucket{operation="list_payment_methods",le="1"} 50
offerflow_dodo_rate_limit_wait_seconds_bucket{operation="list_payment_methods",le="5"} 98
offerflow_dodo_rate_limit_wait_seconds_bucket{operation="list_payment_methods",le="+Inf"} 100
offerflow_dodo_rate_limit_wait_seconds_sum{operation="list_payment_methods"} 210.5
offerflow_dodo_rate_limit_wait_seconds_count{operation="list_payment_methods"} 100
offerflow_dodo_rate_limit_wait_seconds_bucket{operation="get_product",le="0.01"} 1
offerflow_dodo_rate_limit_wait_seconds_bucket{operation="get_product",le="1"} 1
offerflow_dodo_rate_limit_wait_seconds_bucket{operation="get_product",le="5"} 1
offerflow_dodo_rate_limit_wait_seconds_bucket{operation="get_product",le="+Inf"} 1
offerflow_dodo_rate_limit_wait_seconds_sum{operation="get_product"} 0
offerflow_dodo_rate_limit_wait_seconds_count{operation="get_product"} 1
offerflow_other_total 7
`
	tests := []struct {
		name       string
		page       string
		count, sum float64
		p50, p99   string
		text       string
	}{
		{"two operations", page, 101, 210.5, "1 s", "+Inf s", "101 requests, mean 2.08 s, p50 <= 1 s, p99 <= +Inf s"},
		{"none", "offerflow_other_total 7\n", 0, 0, "+Inf", "+Inf", "no requests"},
		{"garbage", "offerflow_dodo_rate_limit_wait_seconds_count\nofferflow_dodo_rate_limit_wait_seconds_sum x\n" +
			`offerflow_dodo_rate_limit_wait_seconds_bucket{le="y"} 3` + "\n", 0, 0, "+Inf", "+Inf", "no requests"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := parseLimiterWait(tt.page)
			if w.count != tt.count || w.sum != tt.sum {
				t.Errorf("count, sum = %v, %v; want %v, %v", w.count, w.sum, tt.count, tt.sum)
			}
			if w.count > 0 {
				if got := w.quantile(0.5); got != tt.p50 {
					t.Errorf("p50 = %s, want %s", got, tt.p50)
				}
				if got := w.quantile(0.99); got != tt.p99 {
					t.Errorf("p99 = %s, want %s", got, tt.p99)
				}
			}
			if got := w.String(); got != tt.text {
				t.Errorf("String() = %q, want %q", got, tt.text)
			}
		})
	}
}

func FuzzParseLimiterWait(f *testing.F) {
	f.Add("offerflow_dodo_rate_limit_wait_seconds_bucket{le=\"1\"} 3\nofferflow_dodo_rate_limit_wait_seconds_count 3\n")
	f.Add("offerflow_dodo_rate_limit_wait_seconds")
	f.Fuzz(func(t *testing.T, page string) {
		w := parseLimiterWait(page)
		_ = w.String()
		_ = w.quantile(0.99)
	})
}
