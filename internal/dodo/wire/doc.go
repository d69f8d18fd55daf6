// Package wire declares the JSON objects Dodo Payments puts on the wire, as
// its OpenAPI spec (v1.113.0, internal/dodo/dodospec) defines them: the
// data of every webhook event, and what those objects are made of. Each
// type is declared once, here, for every party that handles these
// objects; internal/events decodes webhook bodies into them.
//
// The package is named for what it holds, the wire format, rather than
// for one party's view of it: the same Payment is a webhook payload to
// events and the answer of GET /payments/{id} to a client of Dodo's API.
// It imports the standard library only, so that domain packages may use it
// without taking on HTTP or NATS.
//
// Each type's comment names the spec schema it models; its JSON tags are
// the schema's property names. Where offerflow once had two names for one
// schema, the type takes the spec's (CustomerLimitedDetails,
// ScheduledPlanChange, AddonCartItem). The rules the spec test checks,
// field by field:
//
//   - a property the spec marks nullable is a pointer (arrays and
//     Metadata excepted: they decode null as nil), and no other property
//     is, so a nil pointer always encodes as a null the spec allows;
//   - amounts are integers in the currency's smallest unit; decimal
//     amounts the spec gives as strings stay strings.
//
// Decoding is lenient, as the spec allows Dodo to add fields: unknown
// fields are ignored.
package wire
