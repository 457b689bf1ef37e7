#!/usr/bin/env node
// EL (npm echonet-lite) as the client of a `smartmeter-proto simulate device` node, for
// interop/echonet_classes_npm.py.
//
//   node echonet_classes_npm_client.js DEVICE LOCAL TIMEOUT_MS DELAY_MS EOJS
//
// 1. Discover: EL's search (a Get of 0xD6, 0x83 and the property maps of the node
//    profile: what EL.search() multicasts, sent to DEVICE by unicast), then EL.returner's
//    own auto-get crawl (the maps of every object listed in 0xD6, then the EPCs of each
//    0x9F) fill EL.facilities.
// 2. Address: once the crawl of EOJS (comma-separated, e.g. 013001,026b01) is complete,
//    one EL.sendDetails Get per object (the node profile 0ef001 and each of EOJS) of every
//    EPC of its 0x9F, as EL decoded that map; the raw answer and EL.parseBytes of it are kept.
//    (EL.facilities as the crawl left it is printed apart: the addressed Gets add to it.)
//
// Prints one JSON document on stdout, then goes on until stdin closes. Every datagram
// received goes through EL.returner, EL's own receive path. TIMEOUT_MS guards against a
// hang only (reason "timeout"). The package is loaded from $ECHONET_NPM_DIR/node_modules
// (default interop/.work/npm), where run_echonet.sh installs the pinned version.
'use strict';

const path = require('path');
const dgram = require('dgram');

const npmDir = process.env.ECHONET_NPM_DIR || path.join(__dirname, '.work', 'npm');
const EL = require(path.join(npmDir, 'node_modules', 'echonet-lite'));

const CONTROLLER = '05ff01';
// EL.returner's auto-get leaves these out of the Get of a 0x9F (index.js, GET_RES case).
const NOT_AUTO_GOT = new Set(['d6', '9d', '9e', '9f']);

function main(device, local, timeoutMs, delayMs, eojs) {
	// EL.initialize() binds 0.0.0.0:3610, joins 224.0.23.0 and multicasts an INF: none of
	// that may leave loopback here. So this sets the state initialize() would set, binds the
	// receive socket to LOCAL:3610 only and hands every datagram to EL.returner. EL.sendBase
	// then sends from LOCAL:23610 (its usingIF.v4 branch).
	EL.debugMode = false;
	EL.ipVer = 4;
	EL.usingIF = { v4: local, v6: '' };
	EL.ignoreMe = true;
	EL.autoGetProperties = true;
	EL.autoGetDelay = delayMs;
	EL.autoGetWaitings = 0;
	EL.facilities = {};
	EL.identificationNumbers = [];
	EL.tid = [0, 0];
	EL.EL_obj = [CONTROLLER];
	EL.EL_cls = EL.getClassList(EL.EL_obj);

	const log = { received: [], errors: [], reads: [] };
	let crawl = null;  // EL.facilities as the discovery crawl left it
	let phase = 'discover';
	let pending = null;  // the addressed read awaiting its answer: {eoj, tid, asked, resolve}
	let done = false;

	const crawled = () => {
		const node = EL.facilities[device];
		if (!node || !node['0ef001'] || eojs.some((e) => !node[e])) return false;
		for (const eoj of ['0ef001', ...eojs]) {
			const props = node[eoj];
			if (!props['9f']) return false;
			for (const epc of EL.toHexArray(props['9f']).slice(1)) {
				const key = EL.toHexString(epc);
				if (!NOT_AUTO_GOT.has(key) && props[key] === undefined) return false;
			}
		}
		return EL.autoGetWaitings === 0;
	};

	const report = (reason) => {
		if (done) return;
		done = true;
		clearTimeout(guard);
		process.stdout.write(JSON.stringify({
			reason,
			crawl: crawl || EL.facilities,
			facilities: EL.facilities,
			identification_numbers: EL.identificationNumbers,
			received: log.received,
			reads: log.reads,
			errors: log.errors,
		}) + '\n');
		process.stdin.resume();
		process.stdin.on('end', () => sock.close());
	};

	// One Get of every EPC of the object's 0x9F (list form, as EL parsed it), in map order.
	const readAll = async () => {
		for (const eoj of ['0ef001', ...eojs]) {
			const map = EL.toHexArray(EL.facilities[device][eoj]['9f']).slice(1);
			const asked = map.map((epc) => EL.toHexString(epc));
			const answer = new Promise((resolve) => { pending = { eoj, asked, resolve }; });
			const tid = await EL.sendDetails(device, CONTROLLER, eoj, EL.GET, asked.map((e) => ({ [e]: '' })));
			pending.tid = EL.bytesToString(tid);
			log.reads.push(await answer);
			if (done) return;
		}
		report('complete');
	};

	const sock = dgram.createSocket({ type: 'udp4', reuseAddr: true }, (msg, rinfo) => {
		const hex = msg.toString('hex');
		log.received.push({ from: rinfo.address, port: rinfo.port, hex });
		EL.returner(msg, rinfo, (ri, els, err) => {
			if (err) log.errors.push(String(err));
			if (phase === 'discover' && crawled()) {
				phase = 'address';
				crawl = JSON.parse(JSON.stringify(EL.facilities));
				EL.autoGetProperties = false;  // the addressed Gets must not start another crawl
				readAll().catch((e) => { log.errors.push(String(e)); report('error'); });
			} else if (pending && els && pending.tid === els.TID && els.SEOJ === pending.eoj
				&& rinfo.address === device) {
				const { eoj, asked, tid, resolve } = pending;
				pending = null;
				resolve({ eoj, asked, tid, hex, parsed: els });
			}
		});
	});
	EL.sock4 = sock;
	const guard = setTimeout(() => report('timeout'), timeoutMs);
	sock.bind({ address: local, port: EL.EL_port }, () => {
		process.stderr.write('READY\n');
		// What EL.search() multicasts (to the node profile of every node), sent by unicast.
		EL.sendDetails(device, EL.NODE_PROFILE_OBJECT, EL.NODE_PROFILE_OBJECT, EL.GET,
			[{ d6: '' }, { 83: '' }, { '9d': '' }, { '9e': '' }, { '9f': '' }]);
	});
}

const [device, local, timeoutMs, delayMs, eojs] = process.argv.slice(2);
if (!device || !local || !timeoutMs || !delayMs || !eojs) {
	process.stderr.write('usage: echonet_classes_npm_client.js DEVICE LOCAL TIMEOUT_MS DELAY_MS EOJS\n');
	process.exit(2);
}
main(device, local, Number(timeoutMs), Number(delayMs), eojs.toLowerCase().split(','));
