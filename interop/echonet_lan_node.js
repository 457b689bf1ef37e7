// EL (npm echonet-lite) as an ECHONET Lite device on a LAN, started by echonet_lan.py
// inside its own network namespace: EL.initialize() binds 0.0.0.0:3610, joins
// 224.0.23.0 and multicasts its instance-list INF 0xD5, all by EL's own code.
// Prints "ready" once started; exits when stdin closes.
'use strict';
const path = require('path');
const npmDir = process.env.ECHONET_NPM_DIR || path.join(__dirname, '.work', 'npm');
const EL = require(path.join(npmDir, 'node_modules', 'echonet-lite'));

const local = process.argv[2];  // this node's IPv4 address on the link
const objects = ['013001'];     // a home air conditioner, instance 1
EL.initialize(objects, (rinfo, els, err) => {
	if (err) { console.error('EL error:', err); }
}, 4, { v4: local, v6: '', ignoreMe: true, autoGetProperties: false, debugMode: false });
console.log('ready');
process.stdin.on('end', () => { EL.release(); process.exit(0); });
process.stdin.resume();
