package sandbox

import (
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"strings"
	"time"

	"storefront.dev/shared/upstream/notification"
)

// Notification is one accepted notification in the notification service's
// admin state.
type Notification struct {
	ID        string         `json:"id"`
	UserID    string         `json:"user_id"`
	Template  string         `json:"template"`
	Data      map[string]any `json:"data,omitempty"`
	CreatedAt time.Time      `json:"created_at"`
}

// NotificationState is the notification service's state, as
// GET /__admin/state returns it.
type NotificationState struct {
	Notifications []Notification `json:"notifications"`
	// Requests counts non-admin requests by route pattern.
	Requests map[string]int `json:"requests"`
}

// templateName is what a template name looks like ("order_confirmed").
var templateName = regexp.MustCompile(`^[a-z][a-z0-9_.-]{0,63}$`)

type notificationService struct {
	*service

	// Guarded by service.mu.
	sent []Notification
	seq  int
}

func newNotificationService(now func() time.Time, cfg Config) *notificationService {
	n := &notificationService{service: newService(ServiceNotification, now, cfg.Seed)}
	n.setup(n.seedState, func() any { return n.state() })

	n.handle(RouteNotify, n.send)
	return n
}

func (n *notificationService) seedState() {
	n.sent = nil
	n.seq = 0
}

func (n *notificationService) state() NotificationState {
	var st NotificationState
	n.withState(func() {
		st.Notifications = make([]Notification, len(n.sent))
		for i, x := range n.sent {
			x.Data = maps.Clone(x.Data)
			st.Notifications[i] = x
		}
	})
	st.Requests = n.counters()
	return st
}

func (n *notificationService) send(_ *http.Request, body []byte) (int, any, error) {
	var req notification.Request
	if err := decodeJSON(body, &req); err != nil {
		return 0, nil, err
	}
	if strings.TrimSpace(req.UserID) == "" {
		return 0, nil, invalid("user_id is required")
	}
	if !templateName.MatchString(req.Template) {
		return 0, nil, invalid("template must be a lower-case name such as \"order_confirmed\", got %q", req.Template)
	}
	n.seq++
	x := Notification{
		ID:        fmt.Sprintf("ntf_%06d", n.seq),
		UserID:    req.UserID,
		Template:  req.Template,
		Data:      req.Data,
		CreatedAt: n.now(),
	}
	n.sent = append(n.sent, x)
	return http.StatusAccepted, notification.Receipt{ID: x.ID, Status: "accepted"}, nil
}
