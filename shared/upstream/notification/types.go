package notification

// Request is the body of POST /notifications.
type Request struct {
	UserID   string         `json:"user_id"`
	Template string         `json:"template"`
	Data     map[string]any `json:"data,omitempty"`
}

// Receipt is the 202 answer of POST /notifications.
type Receipt struct {
	ID     string `json:"id"`
	Status string `json:"status"`
}
