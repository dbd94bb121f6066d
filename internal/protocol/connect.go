package protocol

// Scopes an operator connection can hold.
const (
	ScopeRead      = "operator.read"
	ScopeWrite     = "operator.write"
	ScopeAdmin     = "operator.admin"
	ScopeApprovals = "operator.approvals"
	ScopePairing   = "operator.pairing"
)

// OperatorScopes lists every scope Talon knows, in display order.
var OperatorScopes = []string{ScopeAdmin, ScopeRead, ScopeWrite, ScopeApprovals, ScopePairing}

// Roles a connection can claim.
const (
	RoleOperator = "operator"
	RoleNode     = "node"
)

// Event names.
const (
	EventConnectChallenge = "connect.challenge"
	EventTick             = "tick"
	EventShutdown         = "shutdown"
)

// Challenge is the payload of the connect.challenge event.
type Challenge struct {
	Nonce string `json:"nonce"`
	TS    int64  `json:"ts"`
}

// ConnectParams are the params of the first request, "connect". Fields the
// gateway does not use (caps, commands, permissions, locale, …) are accepted
// and ignored so that clients that send more still connect.
type ConnectParams struct {
	MinProtocol int          `json:"minProtocol"`
	MaxProtocol int          `json:"maxProtocol"`
	Client      ClientInfo   `json:"client"`
	Role        string       `json:"role,omitempty"`
	Scopes      []string     `json:"scopes,omitempty"`
	Caps        []string     `json:"caps,omitempty"`
	Auth        *ConnectAuth `json:"auth,omitempty"`
	Device      *Device      `json:"device,omitempty"`
	Locale      string       `json:"locale,omitempty"`
	UserAgent   string       `json:"userAgent,omitempty"`
}

// ClientInfo describes the connecting program.
type ClientInfo struct {
	ID              string `json:"id"`
	DisplayName     string `json:"displayName,omitempty"`
	Version         string `json:"version"`
	Platform        string `json:"platform"`
	DeviceFamily    string `json:"deviceFamily,omitempty"`
	ModelIdentifier string `json:"modelIdentifier,omitempty"`
	Mode            string `json:"mode"`
	InstanceID      string `json:"instanceId,omitempty"`
}

// ConnectAuth carries the shared secret. Exactly the configured mode's field
// is read.
type ConnectAuth struct {
	Token          string `json:"token,omitempty"`
	Password       string `json:"password,omitempty"`
	DeviceToken    string `json:"deviceToken,omitempty"`
	BootstrapToken string `json:"bootstrapToken,omitempty"`
}

// Device is a client's Ed25519 device identity with its signature over the
// connect challenge.
type Device struct {
	ID        string `json:"id"`
	PublicKey string `json:"publicKey"`
	Signature string `json:"signature"`
	SignedAt  int64  `json:"signedAt"`
	Nonce     string `json:"nonce,omitempty"`
}

// HelloOK is the payload of a successful connect response.
type HelloOK struct {
	Type     string      `json:"type"`
	Protocol int         `json:"protocol"`
	Server   ServerInfo  `json:"server"`
	Features Features    `json:"features"`
	Snapshot any         `json:"snapshot,omitempty"`
	Auth     HelloAuth   `json:"auth"`
	Policy   HelloPolicy `json:"policy"`
}

// ServerInfo names the gateway build and this connection.
type ServerInfo struct {
	Version string `json:"version"`
	ConnID  string `json:"connId"`
}

// Features lists the methods and events this gateway offers.
type Features struct {
	Methods      []string `json:"methods"`
	Events       []string `json:"events"`
	Capabilities []string `json:"capabilities,omitempty"` // e.g. "published-model-catalog"
}

// HelloAuth is what the connection was granted.
type HelloAuth struct {
	Role   string   `json:"role"`
	Scopes []string `json:"scopes"`
}

// HelloPolicy tells the client the connection's limits.
type HelloPolicy struct {
	MaxPayload       int64 `json:"maxPayload"`
	MaxBufferedBytes int64 `json:"maxBufferedBytes"`
	TickIntervalMs   int64 `json:"tickIntervalMs"`
}
