// Drives offerflow's Dodo stand-in with Dodo's official TypeScript SDK,
// dodopayments@2.52.0: every stand-in route the SDK has a method for, each
// answer parsed by the SDK and checked here, plus a journey through the
// stand-in's own /_standin/ routes (which the SDK does not know) with fetch.
//
// Run by internal/dodo/standin/sdk_test.go, which starts the stand-in,
// seeds it and sets:
//   STANDIN_URL  the stand-in's base URL
//   STANDIN_KEY  its API key
//   STANDIN_IDS  JSON of the seeded ids: {customer, otherCustomer, card,
//                declinedCard, otherCard, oneTime, monthly, pro}
// Prints one line per check and exits 1 on the first failure.

import DodoPayments from 'dodopayments';
import assert from 'node:assert/strict';

const url = process.env.STANDIN_URL;
const key = process.env.STANDIN_KEY;
const ids = JSON.parse(process.env.STANDIN_IDS ?? '{}');
if (!url || !key || !ids.customer) {
  console.error('set STANDIN_URL, STANDIN_KEY and STANDIN_IDS (see internal/dodo/standin/sdk_test.go)');
  process.exit(2);
}

// No retries: a retried POST could hide a double charge, and an error
// must show on the first answer.
const client = new DodoPayments({ bearerToken: key, baseURL: url, maxRetries: 0, timeout: 10_000 });

// standin calls one of the stand-in's own routes.
async function standin(method, path, body) {
  const res = await fetch(url + path, {
    method,
    headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

// all collects every item of a paginated list through the SDK's iterator.
// Lists start at page_number 0 explicitly: the SDK's iterator (v2.52.0,
// DefaultPageNumberPagination) asks for page (page_number ?? 1) + 1 next,
// so a first request without page_number (page 0 on the server, as the
// spec has it) is followed by page 2, and page 1 is never fetched.
async function all(page) {
  const out = [];
  for await (const item of page) out.push(item);
  return out;
}

// expectError checks that a call fails with the SDK's error class for status.
async function expectError(status, fn) {
  try {
    await fn();
  } catch (err) {
    assert.ok(err instanceof DodoPayments.APIError, `want an APIError, got ${err}`);
    assert.equal(err.status, status, `status ${err.status}: ${err.message}`);
    assert.match(err.error?.code ?? '', /^[A-Z_]+$/, `Dodo's error body: ${JSON.stringify(err.error)}`);
    return err;
  }
  assert.fail(`want a ${status} error`);
}

const checks = [];
function check(name, fn) {
  checks.push([name, fn]);
}

const state = {};

check('customers.create', async () => {
  const c = await client.customers.create({ email: 'sdk@example.com', name: 'SDK Person', metadata: { source: 'sdk' } });
  assert.match(c.customer_id, /^cus_/);
  assert.equal(c.email, 'sdk@example.com');
  assert.equal(c.metadata.source, 'sdk');
  state.newCustomer = c.customer_id;
});

check('customers.list (every page)', async () => {
  const list = await all(client.customers.list({ page_size: 1, page_number: 0 }));
  assert.ok(list.length >= 3, `${list.length} customers`);
  const found = await client.customers.list({ email: 'SDK@' });
  assert.deepEqual(found.items.map((c) => c.customer_id), [state.newCustomer]);
});

check('customers.retrieve', async () => {
  const c = await client.customers.retrieve(ids.customer);
  assert.equal(c.customer_id, ids.customer);
  await expectError(404, () => client.customers.retrieve('cus_nobody'));
});

check('customers.retrievePaymentMethods', async () => {
  const pms = await client.customers.retrievePaymentMethods(ids.customer);
  const visa = pms.items.find((p) => p.payment_method_id === ids.card);
  assert.equal(visa.card.last4_digits, '4242');
});

check('customers.customerPortal.create', async () => {
  const s = await client.customers.customerPortal.create(ids.customer, { send_email: false, return_url: 'https://shop.example/account' });
  assert.match(s.link, /^https:\/\//);
});

check('products.list (every page)', async () => {
  const list = await all(client.products.list({ page_size: 2, page_number: 0 }));
  assert.ok(list.some((p) => p.product_id === ids.oneTime));
  const recurring = await all(client.products.list({ recurring: true, page_number: 0 }));
  assert.ok(recurring.every((p) => p.is_recurring));
});

check('products.retrieve', async () => {
  const p = await client.products.retrieve(ids.monthly);
  assert.equal(p.is_recurring, true);
  assert.equal(p.price.type, 'recurring_price');
});

check('checkoutSessions.create (one-click)', async () => {
  const s = await client.checkoutSessions.create({
    product_cart: [{ product_id: ids.oneTime, quantity: 1 }],
    customer: { customer_id: ids.customer },
    payment_method_id: ids.card,
    confirm: true,
    minimal_address: true,
    billing_address: { country: 'US', zipcode: '94102' },
    metadata: { offer_id: 'sdk_offer' },
  });
  assert.equal(s.checkout_url, null);
  assert.match(s.payment_id, /^pay_/);
  state.oneClickPayment = s.payment_id;
  state.oneClickSession = s.session_id;
});

check('checkoutSessions.create (a subscription, one-click)', async () => {
  const s = await client.checkoutSessions.create({
    product_cart: [{ product_id: ids.monthly, quantity: 1 }],
    customer: { customer_id: ids.customer },
    payment_method_id: ids.card,
    confirm: true,
    minimal_address: true,
    billing_address: { country: 'US', zipcode: '94102' },
  });
  const p = await client.payments.retrieve(s.payment_id);
  assert.match(p.subscription_id, /^sub_/);
  state.subscription = p.subscription_id;
});

check('checkoutSessions.retrieve', async () => {
  const s = await client.checkoutSessions.retrieve(state.oneClickSession);
  assert.equal(s.payment_id, state.oneClickPayment);
  assert.equal(s.payment_status, 'succeeded');
});

check('payments.retrieve', async () => {
  const p = await client.payments.retrieve(state.oneClickPayment);
  assert.equal(p.status, 'succeeded');
  assert.equal(p.metadata.offer_id, 'sdk_offer');
  assert.equal(p.customer.customer_id, ids.customer);
});

check('payments.create (saved card and payment link)', async () => {
  const paid = await client.payments.create({
    product_cart: [{ product_id: ids.oneTime, quantity: 1 }],
    customer: { customer_id: ids.customer },
    payment_method_id: ids.card,
    billing: { country: 'US', zipcode: '94102' },
  });
  assert.match(paid.payment_id, /^pay_/);
  const link = await client.payments.create({
    product_cart: [{ product_id: ids.oneTime, quantity: 1 }],
    customer: { email: 'link@example.com', name: 'Link' },
    billing: { country: 'US' },
    payment_link: true,
  });
  assert.match(link.payment_link, /^https:\/\//);
  state.linkPayment = link.payment_id;
});

check('payments.list (filters, every page, a bad status is a 422)', async () => {
  const mine = await all(client.payments.list({ customer_id: ids.customer, status: 'succeeded', page_size: 1, page_number: 0 }));
  assert.ok(mine.length >= 3, `${mine.length} payments`);
  assert.ok(mine.every((p) => p.status === 'succeeded' && p.customer.customer_id === ids.customer));
  await expectError(422, () => client.payments.list({ status: 'paid' }));
});

check('refunds.create (partial, then the rest)', async () => {
  const part = await client.refunds.create({ payment_id: state.oneClickPayment, items: [{ item_id: ids.oneTime, amount: 500 }], reason: 'sdk' });
  assert.equal(part.is_partial, true);
  assert.equal(part.amount, 500);
  const rest = await client.refunds.create({ payment_id: state.oneClickPayment });
  assert.equal(rest.status, 'succeeded');
  const p = await client.payments.retrieve(state.oneClickPayment);
  assert.equal(p.refund_status, 'full');
  assert.equal(p.refunds.length, 2);
  await expectError(422, () => client.refunds.create({ payment_id: state.oneClickPayment }));
});

check('refunds.list and refunds.retrieve', async () => {
  const refunds = await all(client.refunds.list({ customer_id: ids.customer, page_number: 0 }));
  assert.equal(refunds.length, 2);
  const r = await client.refunds.retrieve(refunds[0].refund_id);
  assert.equal(r.payment_id, state.oneClickPayment);
  assert.equal(r.customer.customer_id, ids.customer);
});

check('subscriptions.list', async () => {
  const subs = await all(client.subscriptions.list({ customer_id: ids.customer, status: 'active', page_number: 0 }));
  assert.ok(subs.some((s) => s.subscription_id === state.subscription));
});

check('subscriptions.retrieve', async () => {
  const s = await client.subscriptions.retrieve(state.subscription);
  assert.equal(s.status, 'active');
  assert.equal(s.product_id, ids.monthly);
});

check('subscriptions.update (pause, resume, cancel at the next billing date, undo)', async () => {
  let s = await client.subscriptions.update(state.subscription, { pause: true });
  assert.equal(s.status, 'paused');
  s = await client.subscriptions.update(state.subscription, { pause: false });
  assert.equal(s.status, 'active');
  s = await client.subscriptions.update(state.subscription, { cancel_at_next_billing_date: true });
  assert.equal(s.cancel_at_next_billing_date, true);
  s = await client.subscriptions.update(state.subscription, { cancel_at_next_billing_date: false });
  assert.equal(s.cancel_at_next_billing_date, false);
});

check('subscriptions.charge', async () => {
  const c = await client.subscriptions.charge(state.subscription, { product_price: 700 });
  const p = await client.payments.retrieve(c.payment_id);
  assert.equal(p.total_amount, 700);
  assert.equal(p.subscription_id, state.subscription);
});

check('subscriptions.previewChangePlan', async () => {
  const preview = await client.subscriptions.previewChangePlan(state.subscription, {
    product_id: ids.pro, quantity: 1, proration_billing_mode: 'full_immediately',
  });
  assert.equal(preview.new_plan.product_id, ids.pro);
  assert.equal(typeof preview.immediate_charge.summary.total_amount, 'number');
});

check('subscriptions.retrieve and payments.retrieve carry the fields added after spec v1.113.0', async () => {
  const s = await client.subscriptions.retrieve(state.subscription);
  assert.equal(s.has_payment_method, true);
  const p = await client.payments.retrieve(state.oneClickPayment);
  assert.equal(p.is_multi_subscription, false);
  assert.deepEqual(p.subscription_ids, []);
});

check('subscriptions.changePlan (scheduled) and cancelChangePlan', async () => {
  const res = await client.subscriptions.changePlan(state.subscription, {
    product_id: ids.pro, quantity: 1, proration_billing_mode: 'full_immediately', effective_at: 'next_billing_date',
  });
  assert.equal(res.payment_id, null); // nothing charged now
  let s = await client.subscriptions.retrieve(state.subscription);
  assert.equal(s.scheduled_change.product_id, ids.pro);
  await client.subscriptions.cancelChangePlan(state.subscription);
  s = await client.subscriptions.retrieve(state.subscription);
  assert.equal(s.scheduled_change, null);
});

check('subscriptions.changePlan (now)', async () => {
  const res = await client.subscriptions.changePlan(state.subscription, {
    product_id: ids.pro, quantity: 1, proration_billing_mode: 'prorated_immediately',
  });
  const s = await client.subscriptions.retrieve(state.subscription);
  assert.equal(s.product_id, ids.pro);
  const p = await client.payments.retrieve(res.payment_id);
  assert.equal(p.subscription_id, state.subscription);
  assert.deepEqual(p.subscription_ids, [state.subscription]);
});

check("another customer's card is refused", async () => {
  await expectError(422, () => client.checkoutSessions.create({
    product_cart: [{ product_id: ids.oneTime, quantity: 1 }],
    customer: { customer_id: ids.otherCustomer },
    payment_method_id: ids.card,
    confirm: true,
    minimal_address: true,
    billing_address: { country: 'US', zipcode: '94102' },
  }));
});

check('journey: failed card, fallback checkout completed, one charge each', async () => {
  const before = await standin('GET', '/_standin/ledger');
  const declined = await client.checkoutSessions.create({
    product_cart: [{ product_id: ids.oneTime, quantity: 1 }],
    customer: { customer_id: ids.otherCustomer },
    payment_method_id: ids.declinedCard,
    confirm: true,
    minimal_address: true,
    billing_address: { country: 'DE', zipcode: '10115' },
  });
  assert.equal((await client.payments.retrieve(declined.payment_id)).status, 'failed');
  const fallback = await client.checkoutSessions.create({
    product_cart: [{ product_id: ids.oneTime, quantity: 1 }],
    customer: { customer_id: ids.otherCustomer },
    return_url: 'https://shop.example/thanks',
  });
  assert.match(fallback.checkout_url, /^https:\/\//);
  const card = await standin('POST', `/_standin/customers/${ids.otherCustomer}/payment-methods`, { test_card: 'success' });
  await standin('POST', `/_standin/checkouts/${fallback.session_id}/complete`, { payment_method_id: card.payment_method_id });
  const status = await client.checkoutSessions.retrieve(fallback.session_id);
  assert.equal(status.payment_status, 'succeeded');
  const after = await standin('GET', '/_standin/ledger');
  assert.equal((after.charges[ids.otherCustomer] ?? 0) - (before.charges[ids.otherCustomer] ?? 0), 2);
});

check('journey: the clock moves, the subscription renews', async () => {
  const before = await client.subscriptions.retrieve(state.subscription);
  const next = new Date(before.next_billing_date);
  const moved = await standin('POST', '/_standin/clock/advance', { to: next.toISOString() });
  assert.ok(moved.renewed >= 1);
  const after = await client.subscriptions.retrieve(state.subscription);
  assert.ok(new Date(after.next_billing_date) > next);
});

check('journey: past due, then recovered on a new card', async () => {
  let s = await standin('POST', `/_standin/subscriptions/${state.subscription}/past_due`, { grace_seconds: 86400 });
  assert.equal(s.status, 'past_due');
  s = await client.subscriptions.retrieve(state.subscription);
  assert.equal(s.status, 'past_due');
  const listed = await all(client.subscriptions.list({ customer_id: ids.customer, status: 'past_due', page_number: 0 }));
  assert.ok(listed.some((x) => x.subscription_id === state.subscription));
  const card = await standin('POST', `/_standin/customers/${ids.customer}/payment-methods`, { test_card: 'success' });
  const paid = await standin('POST', `/_standin/subscriptions/${state.subscription}/recover`, { payment_method_id: card.payment_method_id });
  assert.equal(paid.status, 'succeeded');
  assert.ok(paid.retry_attempt >= 1);
  s = await client.subscriptions.retrieve(state.subscription);
  assert.equal(s.status, 'active');
});

let failed = 0;
for (const [name, fn] of checks) {
  try {
    await fn();
    console.log(`ok   ${name}`);
  } catch (err) {
    failed++;
    console.log(`FAIL ${name}: ${err?.stack ?? err}`);
    break;
  }
}
console.log(failed ? 'FAIL' : `PASS (${checks.length} checks)`);
process.exit(failed ? 1 : 0);
