package events

// A validating scanner for the envelope. json.Valid followed by a scan for
// the top-level keys walks a body twice, and json.Valid's state machine
// (a function call per byte) was the largest single cost of the ingest's
// hot path after HTTP itself. This scanner checks the same grammar as
// json.Valid and records the envelope's keys in one pass; FuzzScan checks
// it against json.Valid.

// maxDepth is encoding/json's nesting limit; deeper bodies are invalid for
// both.
const maxDepth = 10000

type scanner struct {
	b     []byte
	i     int
	depth int
}

// scanEnvelope reports whether body is valid JSON and, if so, its envelope
// keys. keysOK is false when a top-level key contains escapes: the caller
// then matches keys through encoding/json.
func scanEnvelope(body []byte) (top topLevel, valid, keysOK bool) {
	s := scanner{b: body}
	s.space()
	keysOK = true
	if s.i < len(s.b) && s.b[s.i] == '{' {
		top.isObject = true
		if !s.object(&top, &keysOK) {
			return top, false, false
		}
	} else if !s.value() {
		return top, false, false
	}
	s.space()
	return top, s.i == len(s.b), keysOK
}

func (s *scanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// object scans the top-level object, recording the envelope's keys.
func (s *scanner) object(top *topLevel, keysOK *bool) bool {
	s.i++ // '{'
	s.depth++
	s.space()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		s.depth--
		return true
	}
	for {
		if s.i >= len(s.b) || s.b[s.i] != '"' {
			return false
		}
		start := s.i
		escaped, ok := s.str()
		if !ok {
			return false
		}
		key := s.b[start+1 : s.i-1]
		if escaped {
			*keysOK = false
		}
		s.space()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return false
		}
		s.i++
		s.space()
		vstart := s.i
		if !s.value() {
			return false
		}
		val := s.b[vstart:s.i]
		switch string(key) {
		case "type":
			top.typ = val
		case "business_id":
			top.businessID = val
		case "timestamp":
			top.timestamp = val
		case "data":
			top.data = val
		}
		s.space()
		if s.i >= len(s.b) {
			return false
		}
		switch s.b[s.i] {
		case ',':
			s.i++
			s.space()
		case '}':
			s.i++
			s.depth--
			return true
		default:
			return false
		}
	}
}

// value scans one JSON value starting at s.i (no leading space).
func (s *scanner) value() bool {
	if s.i >= len(s.b) {
		return false
	}
	switch c := s.b[s.i]; {
	case c == '"':
		_, ok := s.str()
		return ok
	case c == '{' || c == '[':
		return s.container(c)
	case c == '-' || c >= '0' && c <= '9':
		return s.number()
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	}
	return false
}

func (s *scanner) container(open byte) bool {
	s.depth++
	if s.depth > maxDepth {
		return false
	}
	closing := byte('}')
	if open == '[' {
		closing = ']'
	}
	s.i++
	s.space()
	if s.i < len(s.b) && s.b[s.i] == closing {
		s.i++
		s.depth--
		return true
	}
	for {
		if open == '{' {
			if s.i >= len(s.b) || s.b[s.i] != '"' {
				return false
			}
			if _, ok := s.str(); !ok {
				return false
			}
			s.space()
			if s.i >= len(s.b) || s.b[s.i] != ':' {
				return false
			}
			s.i++
			s.space()
		}
		if !s.value() {
			return false
		}
		s.space()
		if s.i >= len(s.b) {
			return false
		}
		switch s.b[s.i] {
		case ',':
			s.i++
			s.space()
		case closing:
			s.i++
			s.depth--
			return true
		default:
			return false
		}
	}
}

// str scans a string literal; like json.Valid it does not check UTF-8.
func (s *scanner) str() (escaped, ok bool) {
	s.i++ // opening quote
	for s.i < len(s.b) {
		// Most of a body is plain string bytes: skip them in a tight
		// loop before looking at the one that ends the run.
		for s.i < len(s.b) {
			if c := s.b[s.i]; c < 0x20 || c == '"' || c == '\\' {
				break
			}
			s.i++
		}
		if s.i >= len(s.b) {
			break
		}
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return escaped, true
		case c == '\\':
			escaped = true
			s.i++
			if s.i >= len(s.b) {
				return escaped, false
			}
			switch s.b[s.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i++
			case 'u':
				if s.i+4 >= len(s.b) {
					return escaped, false
				}
				for _, h := range s.b[s.i+1 : s.i+5] {
					if !(h >= '0' && h <= '9' || h >= 'a' && h <= 'f' || h >= 'A' && h <= 'F') {
						return escaped, false
					}
				}
				s.i += 5
			default:
				return escaped, false
			}
		case c < 0x20:
			return escaped, false
		default:
			s.i++
		}
	}
	return escaped, false
}

func (s *scanner) digits() int {
	n := 0
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
		n++
	}
	return n
}

func (s *scanner) number() bool {
	if s.b[s.i] == '-' {
		s.i++
	}
	if s.i >= len(s.b) {
		return false
	}
	if s.b[s.i] == '0' {
		s.i++
	} else if s.digits() == 0 {
		return false
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if s.digits() == 0 {
			return false
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if s.digits() == 0 {
			return false
		}
	}
	return true
}

func (s *scanner) literal(word string) bool {
	if len(s.b)-s.i < len(word) || string(s.b[s.i:s.i+len(word)]) != word {
		return false
	}
	s.i += len(word)
	return true
}
