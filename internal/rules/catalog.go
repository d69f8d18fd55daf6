package rules

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Product is one product of the catalog.
type Product struct {
	ID       string   `yaml:"id"`
	Name     string   `yaml:"name"`
	Tier     int      `yaml:"tier"`
	Features []string `yaml:"features"`
}

// Catalog is the loaded file: products, rules and limits. It is not
// changed after Parse, so it is safe for concurrent use.
type Catalog struct {
	products map[string]Product
	order    []string

	limits    Limits
	rules     map[string]*rule
	ordered   []*rule             // priority, highest first, then id
	byTrigger map[Trigger][]*rule // in the order of ordered
}

func newCatalog() *Catalog {
	return &Catalog{products: map[string]Product{}, rules: map[string]*rule{}}
}

// MaxFileSize bounds the rules file; a larger one is almost surely a
// mistake (and YAML aliases can blow up small files, see Parse).
const MaxFileSize = 4 << 20

var featureName = regexp.MustCompile(`^[a-z0-9][a-z0-9_.:-]{0,63}$`)

// Load reads and parses the file at path.
func Load(path string) (*Catalog, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("rules file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("rules file %s: %w", path, err)
	}
	return Parse(path, data)
}

// Parse parses a rules file's contents; name is used in error messages.
// Every error names the file and, where it has one, the line.
func Parse(name string, data []byte) (*Catalog, error) {
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%s: file is larger than %d bytes", name, MaxFileSize)
	}
	root, err := parseRoot(name, data)
	if err != nil {
		return nil, err
	}
	if root == nil {
		return newCatalog(), nil
	}
	c := newCatalog()
	// Rules refer to products, which may come later in the file.
	ruleNodes, errs := c.parseSections(name, root)
	var parsed []*rule
	onDeclineLine := map[string]int{}
	for _, n := range ruleNodes {
		r, err := parseRule(name, n, c.products)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if _, dup := c.rules[r.ID]; dup {
			errs = append(errs, fmt.Errorf("%s:%d: rule %q is listed twice", name, n.Line, r.ID))
			continue
		}
		c.rules[r.ID] = r
		parsed = append(parsed, r)
		onDeclineLine[r.ID] = onDeclineKeyLine(n)
	}
	// References are checked only on a file whose rules all parsed: a
	// rule missing because of its own error would show up twice.
	if len(errs) == 0 {
		errs = c.linkRules(name, parsed, onDeclineLine)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return c, nil
}

// parseRoot decodes the YAML document and returns its top-level mapping,
// or nil for an empty file.
func parseRoot(name string, data []byte) (*yaml.Node, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, fmt.Errorf("%s: %s", name, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if hasAlias(&doc) {
		// Aliases let a few lines expand to gigabytes; a catalog has no
		// need for them.
		return nil, fmt.Errorf("%s: YAML aliases are not allowed", name)
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d: the file must be a mapping with a products list", name, root.Line)
	}
	return root, nil
}

// parseSections reads the top-level keys into c (products, limits) and
// returns the rules' nodes, parsed later because they name products.
func (c *Catalog) parseSections(name string, root *yaml.Node) (ruleNodes []*yaml.Node, errs []error) {
	for i := 0; i+1 < len(root.Content); i += 2 {
		key, val := root.Content[i], root.Content[i+1]
		switch key.Value {
		case "products":
			if val.Kind != yaml.SequenceNode {
				errs = append(errs, fmt.Errorf("%s:%d: products must be a list", name, val.Line))
				continue
			}
			errs = append(errs, c.addProducts(name, val.Content)...)
		case "rules":
			if val.Kind != yaml.SequenceNode {
				errs = append(errs, fmt.Errorf("%s:%d: rules must be a list", name, val.Line))
				continue
			}
			ruleNodes = append(ruleNodes, val.Content...)
		case "limits":
			l, err := parseLimits(name, val)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			c.limits = l
		default:
			errs = append(errs, fmt.Errorf("%s:%d: unknown key %q (known: limits, products, rules)", name, key.Line, key.Value))
		}
	}
	return ruleNodes, errs
}

// addProducts parses the products list into c, in the file's order.
func (c *Catalog) addProducts(name string, nodes []*yaml.Node) []error {
	var errs []error
	for _, n := range nodes {
		p, err := parseProduct(name, n)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if _, dup := c.products[p.ID]; dup {
			errs = append(errs, fmt.Errorf("%s:%d: product %q is listed twice", name, n.Line, p.ID))
			continue
		}
		c.products[p.ID] = p
		c.order = append(c.order, p.ID)
	}
	return errs
}

func parseProduct(name string, n *yaml.Node) (Product, error) {
	var p Product
	if n.Kind != yaml.MappingNode {
		return p, fmt.Errorf("%s:%d: a product must be a mapping with id, name, tier, features", name, n.Line)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i].Value
		if !slices.Contains([]string{"id", "name", "tier", "features"}, k) {
			return p, fmt.Errorf("%s:%d: unknown product key %q (known: id, name, tier, features)", name, n.Content[i].Line, k)
		}
	}
	if err := n.Decode(&p); err != nil {
		return p, fmt.Errorf("%s:%d: %s", name, n.Line, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	switch {
	case strings.TrimSpace(p.ID) == "":
		return p, fmt.Errorf("%s:%d: product id is required", name, n.Line)
	case len(p.ID) > 128:
		return p, fmt.Errorf("%s:%d: product id is longer than 128 characters", name, n.Line)
	case p.Tier < 0:
		return p, fmt.Errorf("%s:%d: product %q: tier must be >= 0", name, n.Line, p.ID)
	}
	seen := map[string]bool{}
	for _, f := range p.Features {
		if !featureName.MatchString(f) {
			return p, fmt.Errorf("%s:%d: product %q: feature %q must match %s", name, n.Line, p.ID, f, featureName)
		}
		if seen[f] {
			return p, fmt.Errorf("%s:%d: product %q: feature %q is listed twice", name, n.Line, p.ID, f)
		}
		seen[f] = true
	}
	return p, nil
}

// onDeclineKeyLine returns the line of a rule's on_decline key, or the
// rule's own line.
func onDeclineKeyLine(n *yaml.Node) int {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "on_decline" {
			return n.Content[i].Line
		}
	}
	return n.Line
}

func hasAlias(n *yaml.Node) bool {
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		return true
	}
	for _, c := range n.Content {
		if hasAlias(c) {
			return true
		}
	}
	return false
}

// Features returns a product's features; nil for a product the catalog
// does not list (access is then by product id alone).
func (c *Catalog) Features(productID string) []string {
	if c == nil {
		return nil
	}
	return c.products[productID].Features
}

// Product returns a product by id.
func (c *Catalog) Product(id string) (Product, bool) {
	if c == nil {
		return Product{}, false
	}
	p, ok := c.products[id]
	return p, ok
}

// Products returns the products in file order.
func (c *Catalog) Products() []Product {
	if c == nil {
		return nil
	}
	out := make([]Product, 0, len(c.order))
	for _, id := range c.order {
		out = append(out, c.products[id])
	}
	return out
}
