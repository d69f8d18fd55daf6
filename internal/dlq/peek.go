package dlq

import "encoding/json"

// CustomerID returns the customer id of a webhook body, for listing and
// filtering: data.customer.customer_id (payments, subscriptions, refunds,
// disputes), else data.customer_id (events that carry only the id), else
// "". A body that is not JSON, or whose fields have other shapes, has
// none; a dead letter is often exactly such a body, so nothing here fails.
//
// Only the two paths are decoded: the rest of the body, whatever it holds,
// is skipped as raw JSON. Fields inside data are matched as encoding/json
// does (case-insensitively), like events.Decode's payloads.
func CustomerID(body []byte) string {
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	if json.Unmarshal(body, &env) != nil || len(env.Data) == 0 || env.Data[0] != '{' {
		return ""
	}
	var data struct {
		Customer   json.RawMessage `json:"customer"`
		CustomerID json.RawMessage `json:"customer_id"`
	}
	if json.Unmarshal(env.Data, &data) != nil {
		return ""
	}
	if len(data.Customer) > 0 && data.Customer[0] == '{' {
		var c struct {
			CustomerID json.RawMessage `json:"customer_id"`
		}
		if json.Unmarshal(data.Customer, &c) == nil {
			if id := jsonString(c.CustomerID); id != "" {
				return id
			}
		}
	}
	return jsonString(data.CustomerID)
}

// jsonString returns raw as a string when it is a JSON string, else "".
func jsonString(raw json.RawMessage) string {
	if len(raw) == 0 || raw[0] != '"' {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}
