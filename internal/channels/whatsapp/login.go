//go:build whatsapp

package whatsapp

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types/events"
)

// settleTimeout is how long Login waits, after the phone accepted the
// pairing, for the first logged-in connection (which completes the link),
// and how long Logout waits to connect before unlinking.
const settleTimeout = 30 * time.Second

// loginClient is what Login and Logout use of *whatsmeow.Client.
type loginClient interface {
	waClient
	GetQRChannel(ctx context.Context) (<-chan whatsmeow.QRChannelItem, error)
}

func (o Options) loginClient(dev *store.Device) loginClient {
	cli := newWhatsmeow(dev, newLogger(o.Logger), o.NetHooks)
	// Linking is interactive: a network failure is reported, not retried
	// in the background.
	cli.InitialAutoReconnect = false
	return realClient{cli}
}

// Login links a new device to the WhatsApp account of the phone that scans
// the QR code. showQR is called with each code as it comes (every 20-60 s
// until one is scanned; the CLI renders it); Login returns once the phone
// accepted the link and the device is stored, or with an error when the
// codes ran out, the pairing failed or ctx ended. An account that is
// already linked is refused (Logout first).
func Login(ctx context.Context, o Options, showQR func(code string)) error {
	return login(ctx, o, showQR, o.loginClient)
}

func login(ctx context.Context, o Options, showQR func(string), mk func(*store.Device) loginClient) error {
	if err := o.check(); err != nil {
		return err
	}
	if showQR == nil {
		return errors.New("whatsapp: login needs a way to show the QR code")
	}
	path := storePath(o.StateDir, o.Account)
	c, err := openStore(ctx, path, newLogger(o.Logger).Sub("Store"))
	if err != nil {
		return err
	}
	defer c.Close()
	switch dev, err := linkedDevice(ctx, c); {
	case err == nil:
		return fmt.Errorf("whatsapp: account %q is already linked as %s (hint: talon channels logout whatsapp first)", o.Account, dev.GetJID().ToNonAD())
	case !errors.Is(err, errNotLinked):
		return err
	}

	cli := mk(c.NewDevice())
	connected := make(chan struct{}, 1)
	id := cli.AddEventHandler(func(evt any) {
		if _, ok := evt.(*events.Connected); ok {
			select {
			case connected <- struct{}{}:
			default:
			}
		}
	})
	defer cli.RemoveEventHandler(id)

	qrCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := cli.GetQRChannel(qrCtx)
	if err != nil {
		return fmt.Errorf("whatsapp: login: %w", err)
	}
	if err := cli.ConnectContext(qrCtx); err != nil {
		return fmt.Errorf("whatsapp: connecting to WhatsApp: %w", err)
	}
	defer cli.Disconnect()

	for item := range ch {
		switch item.Event {
		case whatsmeow.QRChannelEventCode:
			showQR(item.Code)
		case whatsmeow.QRChannelSuccess.Event:
			// The server now closes the socket and whatsmeow logs in with
			// the new keys; wait for that, it completes the link.
			t := time.NewTimer(settleTimeout)
			defer t.Stop()
			select {
			case <-connected:
			case <-t.C:
				o.Logger.Warn("whatsapp: linked, but the first login did not complete in time; it will on the next start")
			case <-ctx.Done():
			}
			return nil
		case whatsmeow.QRChannelTimeout.Event:
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("whatsapp: login cancelled: %w", err)
			}
			return errors.New("whatsapp: no QR code was scanned in time (hint: run the login again and scan the code with WhatsApp > Settings > Linked devices)")
		case whatsmeow.QRChannelEventError:
			return fmt.Errorf("whatsapp: pairing failed: %w", item.Error)
		case whatsmeow.QRChannelClientOutdated.Event:
			return errors.New("whatsapp: WhatsApp says this client is outdated (hint: update Talon)")
		case whatsmeow.QRChannelScannedWithoutMultidevice.Event:
			o.Logger.Warn("whatsapp: the code was scanned by a phone without multi-device; update WhatsApp on the phone and scan again")
		default:
			return fmt.Errorf("whatsapp: pairing failed: %s", item.Event)
		}
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("whatsapp: login cancelled: %w", err)
	}
	return errors.New("whatsapp: pairing ended without a result (hint: run the login again)")
}

// Logout unlinks the account's device from WhatsApp (it disappears from
// the phone's linked devices) and deletes the device store. When WhatsApp
// cannot be reached the store is deleted anyway and the error says to
// remove the device on the phone. An account that is not linked is not an
// error.
func Logout(ctx context.Context, o Options) error {
	return logout(ctx, o, o.loginClient)
}

func logout(ctx context.Context, o Options, mk func(*store.Device) loginClient) error {
	if err := o.check(); err != nil {
		return err
	}
	path := storePath(o.StateDir, o.Account)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	c, err := openStore(ctx, path, newLogger(o.Logger).Sub("Store"))
	if err != nil {
		return err
	}
	dev, err := linkedDevice(ctx, c)
	if errors.Is(err, errNotLinked) {
		c.Close()
		return removeStore(path)
	} else if err != nil {
		c.Close()
		return err
	}

	cli := mk(dev)
	ready := make(chan bool, 1) // true: connected; false: WhatsApp already dropped the link
	id := cli.AddEventHandler(func(evt any) {
		var v bool
		switch evt.(type) {
		case *events.Connected:
			v = true
		case *events.LoggedOut:
		default:
			return
		}
		select {
		case ready <- v:
		default:
		}
	})
	unlink := func() error {
		if err := cli.ConnectContext(ctx); err != nil {
			return err
		}
		t := time.NewTimer(settleTimeout)
		defer t.Stop()
		select {
		case ok := <-ready:
			if !ok {
				return nil // unlinked already; whatsmeow deleted the device
			}
		case <-t.C:
			return errors.New("not connected in time")
		case <-ctx.Done():
			return context.Cause(ctx)
		}
		return cli.Logout(ctx)
	}
	uerr := unlink()
	cli.RemoveEventHandler(id)
	cli.Disconnect()
	cerr := c.Close()
	if err := removeStore(path); err != nil {
		return errors.Join(err, cerr)
	}
	if uerr != nil {
		return fmt.Errorf("whatsapp: could not unlink the device from WhatsApp (%v); the local device store is deleted (hint: remove it on the phone under Settings > Linked devices)", uerr)
	}
	if cerr != nil {
		return fmt.Errorf("whatsapp: closing the device store: %w", cerr)
	}
	return nil
}
