// Package rules reads the merchant's rules and catalog file
// (OFFERFLOW_RULES, YAML) and decides which offer a customer sees.
//
// Loading checks everything and reports each problem with the file, line
// and reason, so a bad file stops startup instead of misbehaving later:
// unknown keys, wrong types, unknown products, unknown Dodo event types,
// bad proration modes, cycles in on_decline, and conditions that do not
// compile or do not type-check. Evaluation is pure: the time, the facts and
// the customer's offer history are parameters, nothing is read or written.
//
// # File format
//
//	# Optional: at most 3 offers of any rule per customer per 30 days.
//	limits:
//	  per_customer: {max: 3, per: 30d}
//
//	products:
//	  - {id: pdt_basic, name: Basic, tier: 1, features: [reports, export]}
//	  - {id: pdt_pro, name: Pro, tier: 2, features: [reports, export, api, sso]}
//	  - {id: pdt_course, name: Course, tier: 0, features: [course]}
//	  - {id: pdt_course_lite, name: Course Lite, tier: 0, features: [course_lite]}
//
//	rules:
//	  - id: basic-to-pro
//	    trigger: {event: subscription.active}
//	    when: 'subscription.product_id == "pdt_basic" && "USD" in customer.paid_currencies'
//	    offer:
//	      kind: upsell
//	      product: pdt_pro
//	      quantity: 1
//	      change_plan: true
//	      proration: prorated_immediately
//	      valid_for: 72h
//	    priority: 10
//	    display: {headline: "Unlock the API and SSO", badge: most popular}
//	    on_decline: course-offer
//	    caps:
//	      after_decline: never
//	      per_customer: {max: 1, per: 30d}
//
//	  - id: course-offer
//	    trigger: {signal: onboarding_completed}
//	    offer: {kind: cross_sell, product: pdt_course, valid_for: 24h}
//	    on_decline: course-lite-downsell
//	    caps: {after_decline: 720h}
//
//	  # No trigger: reached only by declining an offer whose on_decline
//	  # names it.
//	  - id: course-lite-downsell
//	    offer: {kind: downsell, product: pdt_course_lite, valid_for: 24h}
//	    display: {headline: "The essentials, for less"}
//
// Top-level keys: limits, products, rules. All are optional; an empty file
// is an empty catalog.
//
// A product has an id (Dodo's product id), a name, a tier (0 for a product
// that is not a plan, 1 and up for plans, higher is better) and features
// (short names: lower case letters, digits and _ . : -).
//
// A rule has:
//
//   - id: required, unique, same alphabet as feature names.
//   - trigger: exactly one of event (a Dodo webhook event type such as
//     payment.succeeded or subscription.active) or signal (an app signal:
//     usage_milestone, plan_limit_near or onboarding_completed). A rule
//     without a trigger is only reachable through another rule's
//     on_decline, and loading fails if no rule leads to it.
//   - when: optional condition in the expr language
//     (https://expr-lang.org), compiled and type-checked at load against
//     [Env]; it must be boolean. Missing means always. Names are snake case:
//     customer.paid_currencies, subscription.product_id, signal.value,
//     payment.amount and so on (see the fact types). Membership in a list
//     is "USD" in customer.paid_currencies. now is the evaluation time.
//     The builtins now(), timezone(), keys(), values() and toPairs() are
//     disabled: the first two read the clock or the zone database, the
//     other three return map entries in random order.
//   - offer: kind (upsell, cross_sell or downsell), product (an id from
//     products), quantity (default 1), change_plan, proration, valid_for
//     (required, > 0). A plan change says change_plan: true: it is allowed
//     for upsell and downsell only, its product must be a plan (tier >= 1),
//     and it needs proration, one of Dodo's proration_billing_mode values:
//     prorated_immediately, difference_immediately, full_immediately or
//     do_not_bill. Without change_plan the offer is a one-time purchase
//     or add-on, and proration is an error. The kind is not enough to tell
//     the two apart: a downsell can be a cheaper plan or a cheaper course.
//   - priority: integer, default 0; higher wins, equal priorities are
//     broken by rule id so the choice never depends on file order.
//   - display: headline, badge, body; shown as written.
//   - on_decline: id of the rule to offer when this one is declined.
//     Chains must not loop.
//   - caps: after_decline is never (the default, as Dodo advises) or a
//     duration during which a decline suppresses the rule; per_customer
//     {max, per} bounds how often this rule is shown to one customer.
//
// Durations are Go durations (90m, 72h) or whole days (30d).
//
// # Evaluation
//
// [Catalog.Evaluate] picks at most one offer per trigger: among the rules
// with that trigger, in priority order, the first that is not capped and
// whose condition holds. A rule is capped when the customer already owns
// the product, has an open offer for it, declined this rule or this product
// within after_decline, reached the rule's per_customer cap, or (for a
// plan change) has no plan or the offer would not move the tier in the
// kind's direction; the file's limits cap all rules together. A condition
// that fails at run time does not match and is reported in the
// [Decision]. [Catalog.DownsellFor] walks a rule's on_decline chain with
// the same checks.
package rules
