package natsbus

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// lastFromLeader reads key's last entry in bucket from the leader of the
// bucket's stream, and reports found false when the key has none, or a
// delete, purge or expiry marker.
//
// A KV Get is a direct get, which any replica may answer, and a replica
// that is still catching up (a node just restarted) answers "not found"
// for a key written a moment before. On a cluster an offer that the ingest
// had just listed, read from one replica, was then refused with 404
// offer_not_found by the accept, which read another (issue 12's fault
// test). Whoever would tell a caller that a key does not exist asks the
// leader first.
func lastFromLeader(ctx context.Context, js jetstream.JetStream, bucket, key string) (data []byte, rev uint64, found bool, err error) {
	req, err := json.Marshal(map[string]string{"last_by_subj": "$KV." + bucket + "." + key})
	if err != nil {
		return nil, 0, false, err
	}
	msg, err := js.Conn().RequestWithContext(ctx, "$JS.API.STREAM.MSG.GET.KV_"+bucket, req)
	if err != nil {
		return nil, 0, false, fmt.Errorf("read %s from the leader: %w", key, err)
	}
	var resp struct {
		Message *struct {
			Seq  uint64 `json:"seq"`
			Hdrs []byte `json:"hdrs"`
			Data []byte `json:"data"`
		} `json:"message"`
		Error *struct {
			ErrCode     jetstream.ErrorCode `json:"err_code"`
			Description string              `json:"description"`
		} `json:"error"`
	}
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return nil, 0, false, fmt.Errorf("read %s from the leader: %w", key, err)
	}
	switch {
	case resp.Error != nil && resp.Error.ErrCode == jetstream.JSErrCodeMessageNotFound:
		return nil, 0, false, nil
	case resp.Error != nil:
		return nil, 0, false, fmt.Errorf("read %s from the leader: %s", key, resp.Error.Description)
	case resp.Message == nil:
		return nil, 0, false, fmt.Errorf("read %s from the leader: an answer without a message", key)
	}
	if len(resp.Message.Hdrs) > 0 {
		h, err := nats.DecodeHeadersMsg(resp.Message.Hdrs)
		if err != nil {
			return nil, 0, false, fmt.Errorf("read %s from the leader: %w", key, err)
		}
		// KV-Operation DEL or PURGE: deleted; Nats-Marker-Reason: a
		// marker the server left when the key's TTL ran out.
		if op := h.Get("KV-Operation"); op == "DEL" || op == "PURGE" || h.Get("Nats-Marker-Reason") != "" {
			return nil, 0, false, nil
		}
	}
	return resp.Message.Data, resp.Message.Seq, true, nil
}
