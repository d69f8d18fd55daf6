package offerpage

import (
	"strings"
	"testing"
	"time"

	"golang.org/x/text/language"
)

// Every text is there in every language, with the same arguments.
func TestTexts(t *testing.T) {
	if _, err := newCatalog(); err != nil {
		t.Fatal(err)
	}
	for key, tr := range texts {
		for i, s := range tr {
			if strings.TrimSpace(s) == "" {
				t.Errorf("%s: no %s text", key, languages[i])
			}
			if n, want := strings.Count(s, "%"), strings.Count(tr[0], "%"); n != want {
				t.Errorf("%s (%s) %q has %d arguments, English %d", key, languages[i], s, n, want)
			}
		}
	}
}

func TestDate(t *testing.T) {
	at := time.Date(2026, 4, 4, 9, 5, 0, 0, time.FixedZone("CEST", 2*3600))
	cat, err := newCatalog()
	if err != nil {
		t.Fatal(err)
	}
	for tag, want := range map[language.Tag]string{
		language.English: "April 4, 2026 at 07:05 UTC",
		language.Spanish: "4 de abril de 2026, 07:05 UTC",
	} {
		if got := newPrinter(cat, tag).Date(at); got != want {
			t.Errorf("%s: %q, want %q", tag, got, want)
		}
	}
}
