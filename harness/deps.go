package harness

import (
	"path/filepath"
	"sync"

	"github.com/pcx/publicservice/internal/testenv"
)

// Restartable is DynamoDB Local or the Temporal dev server of one run on a fixed port with its
// data on disk, so it can be stopped and started again with the same data.
type Restartable struct {
	port   int
	addr   string // DynamoDB's endpoint URL or Temporal's host:port: the same after a restart
	launch func(port int) (addr string, p *testenv.Process, err error)

	mu  sync.Mutex
	cur *testenv.Process
}

// DynamoDB starts DynamoDB Local on a free port with its data in dataDir.
func DynamoDB(dataDir string) (*Restartable, error) {
	jarDir, err := testenv.DynamoDBLocalDir()
	if err != nil {
		return nil, err
	}
	return startRestartable(func(port int) (string, *testenv.Process, error) {
		ddb, err := testenv.StartDynamoDBOnPort(jarDir, port, dataDir)
		if err != nil {
			return "", nil, err
		}
		return ddb.Endpoint, ddb.Proc, nil
	})
}

// Temporal starts the Temporal dev server on a free port with its database in dir.
func Temporal(dir string) (*Restartable, error) {
	if _, err := testenv.TemporalBin(); err != nil {
		return nil, err
	}
	dbFile := filepath.Join(dir, "temporal.db")
	return startRestartable(func(port int) (string, *testenv.Process, error) {
		tmp, err := testenv.StartTemporal(port, dbFile)
		if err != nil {
			return "", nil, err
		}
		return tmp.Address, tmp.Proc, nil
	})
}

func startRestartable(launch func(port int) (string, *testenv.Process, error)) (*Restartable, error) {
	port, err := testenv.FreePort()
	if err != nil {
		return nil, err
	}
	d := &Restartable{port: port, launch: launch}
	if err := d.Start(); err != nil {
		return nil, err
	}
	return d, nil
}

// Addr is DynamoDB's endpoint URL or Temporal's host:port.
func (d *Restartable) Addr() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.addr
}

// Port is the server's port on 127.0.0.1.
func (d *Restartable) Port() int { return d.port }

// Start starts the server again after a Stop, on its port with its data.
func (d *Restartable) Start() error {
	addr, p, err := d.launch(d.port)
	if err != nil {
		return err
	}
	d.mu.Lock()
	d.addr, d.cur = addr, p
	d.mu.Unlock()
	return nil
}

// Stop ends the server: SIGTERM (graceful, then SIGKILL after a grace), or SIGKILL at once, as a
// crash would, when kill is set. Stopping a stopped server does nothing.
func (d *Restartable) Stop(kill bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case d.cur == nil:
	case kill:
		d.cur.Kill()
	default:
		d.cur.Stop()
	}
	d.cur = nil
}

// LogPath is where the running server writes its output ("" when it is stopped).
func (d *Restartable) LogPath() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cur == nil {
		return ""
	}
	return d.cur.LogPath()
}
