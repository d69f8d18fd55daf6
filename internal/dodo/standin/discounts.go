package standin

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/offerflow/offerflow/internal/dodo/wire"
)

// Discount is a discount code the stand-in honours on checkouts. Amount is
// in basis points for a percentage discount (1000 = 10%), as the spec
// gives it, and in the currency's smallest unit for a flat one.
type Discount struct {
	ID     string // "" = generated (dsc_...)
	Code   string
	Type   string // "percentage" (default) or "flat"
	Amount int64
	Name   string
	// created is set by AddDiscount.
	created time.Time
}

// AddDiscount adds a discount code and returns its id.
func (s *Server) AddDiscount(d Discount) (string, error) {
	if d.Type == "" {
		d.Type = "percentage"
	}
	switch {
	case d.Code == "" || strings.TrimSpace(d.Code) != d.Code:
		return "", fmt.Errorf("add discount: code %q: want a code without surrounding spaces", d.Code)
	case d.Type != "percentage" && d.Type != "flat":
		return "", fmt.Errorf("add discount: type %q: want percentage or flat", d.Type)
	case d.Amount <= 0 || d.Type == "percentage" && d.Amount > 10000 || d.Amount > maxAmount:
		return "", fmt.Errorf("add discount: amount %d: want 1 to 10000 basis points, or a flat amount above 0", d.Amount)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.discounts[d.Code]; ok {
		return "", fmt.Errorf("add discount %s: %w", d.Code, errExists)
	}
	if d.ID == "" {
		d.ID = s.newID("dsc")
	}
	d.created = s.now()
	s.discounts[d.Code] = &d
	return d.ID, nil
}

// discountFor finds the discount a checkout names. The stand-in applies
// one code: several are refused (judgement: Dodo stacks up to 20, in an
// order it does not document). The caller holds s.mu.
func (s *Server) discountFor(code *string, codes []string) (*Discount, error) {
	if code != nil && *code != "" {
		codes = append(codes, *code)
	}
	switch len(codes) {
	case 0:
		return nil, nil
	case 1:
	default:
		return nil, invalidf("discount_codes: the stand-in applies one code, got %d", len(codes))
	}
	d, ok := s.discounts[codes[0]]
	if !ok {
		return nil, errorf(http.StatusUnprocessableEntity, "INVALID_DISCOUNT_CODE", "discount code %q does not exist", codes[0])
	}
	return d, nil
}

// errExists is the error of adding what is already there.
var errExists = errors.New("already exists")

// apply returns total less the discount, never below 0; a nil discount
// takes nothing off.
func (d *Discount) apply(total int64) int64 {
	if d == nil {
		return total
	}
	off := d.Amount
	if d.Type == "percentage" {
		off = total * d.Amount / 10000
	}
	return max(total-off, 0)
}

// wire renders the discount as the spec's DiscountDetailResponse.
func (d *Discount) wire(businessID string) wire.Discount {
	return wire.Discount{
		DiscountID: d.ID, BusinessID: businessID, Code: d.Code, Name: optional(d.Name), Type: d.Type, Amount: d.Amount,
		TimesUsed: 0, RestrictedTo: []string{}, Metadata: wire.Metadata{}, CreatedAt: d.created,
	}
}
