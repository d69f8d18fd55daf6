// Package wire declares the JSON objects Dodo Payments puts on the wire, as
// its OpenAPI spec (v1.113.0, internal/dodo/dodospec) defines them: the
// data of every webhook event and the answers of the API calls offerflow
// makes. Each type is declared once, here, and used by all three parties
// that handle these objects: internal/events decodes webhook bodies into
// them, internal/dodo decodes API answers into them, and the stand-in
// (internal/dodo/standin) serves and sends them.
//
// The package is named for what it holds, the wire format, rather than
// for one party's view of it: the same Payment is a webhook payload to
// events, an API answer to the client and an object to render to the
// stand-in. It imports the standard library only, so that domain packages
// may use it without taking on HTTP or NATS.
//
// Each type's comment names the spec schema it models; its JSON tags are
// the schema's property names. Where offerflow once had two names for one
// schema, the type takes the spec's (CustomerLimitedDetails,
// ScheduledPlanChange, AddonCartItem, LineItemSummary). The rules the
// spec test checks, field by field:
//
//   - a property the spec marks nullable is a pointer (arrays and
//     Metadata excepted: they decode null as nil), and no other property
//     is, so a nil pointer always encodes as a null the spec allows;
//   - a type flattening one of the spec's unions (Price, LineItem) holds
//     the properties of every variant; a property that some variant lacks
//     is a pointer (or a slice) with omitempty, so that encoding one
//     variant never writes another's keys;
//   - amounts are integers in the currency's smallest unit; decimal
//     amounts the spec gives as strings stay strings.
//
// Decoding is lenient, as the spec allows Dodo to add fields: unknown
// fields are ignored. Encoding writes every property, null included, as
// Dodo does; filling in what the spec requires (a non-nil Metadata, empty
// arrays rather than null) is the encoder's job.
//
// Dodo's API moved on after v1.113.0 (docs/dodo-drift.md, from the
// types of Dodo's TypeScript SDK 2.52.0): the fields it added are here
// too, each a pointer or a slice tagged omitzero, since objects from
// before lack them and a missing field must read as "not said", not as
// false; and ChangePlanResult models an answer the spec has no schema
// for. The spec test lists them as beyond the spec, and the stand-in's
// tests check them against the SDK's shapes.
//
// Request bodies that only offerflow sends (checkout and change-plan
// requests) are not here: they belong to the client, internal/dodo.
package wire
