#!/usr/bin/env node
// Drives the npm package `echonet-lite` (EL.js) for interop/echonet_npm.py.
//
//   node echonet_npm_decode.js decode < cases.json   parse frames with EL.parseBytes
//   node echonet_npm_decode.js build                 frames made by EL's builders
//   node echonet_npm_decode.js client METER LOCAL    read a node over loopback UDP
//
// Every mode prints one JSON document on stdout; diagnostics go to stderr.
// In client mode EL goes on answering requests to its node profile (as
// EL.returner does) after printing, until stdin is closed.
// The package is loaded from $ECHONET_NPM_DIR/node_modules (default
// interop/.work/npm), where run_echonet.sh installs the versions pinned in
// interop/package.json.
'use strict';

const path = require('path');
const dgram = require('dgram');

const npmDir = process.env.ECHONET_NPM_DIR || path.join(__dirname, '.work', 'npm');
const EL = require(path.join(npmDir, 'node_modules', 'echonet-lite'));

function readStdin() {
	return new Promise((resolve, reject) => {
		const chunks = [];
		process.stdin.on('data', (c) => chunks.push(c));
		process.stdin.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
		process.stdin.on('error', reject);
	});
}

// ---------------------------------------------------------------- decode
// Input: [{name, hex}]. Output: [{name, parsed}] where parsed is what
// EL.parseBytes returned (null when it refused the frame) or {error}.
async function decodeMode() {
	const cases = JSON.parse(await readStdin());
	const out = cases.map(({ name, hex }) => {
		try {
			const parsed = EL.parseBytes(Buffer.from(hex, 'hex'));
			return { name, parsed: parsed === undefined ? null : parsed };
		} catch (e) {
			return { name, parsed: null, error: String(e && e.message ? e.message : e) };
		}
	});
	process.stdout.write(JSON.stringify(out));
}

// ----------------------------------------------------------------- build
// EL's builders all end in EL.sendBase(ip, buffer); capturing that call
// gives the bytes each builder produced without touching the network.
// Some builders are async (sendDetails, replyGetDetail, replySetDetail), so
// each one is awaited before the capture ends.
async function captureSends(fn) {
	const sent = [];
	const original = EL.sendBase;
	EL.sendBase = (ip, buffer) => {
		sent.push(Buffer.from(buffer).toString('hex'));
		return [buffer[2], buffer[3]];
	};
	try {
		await fn();
	} finally {
		EL.sendBase = original;
	}
	return sent;
}

// Each case records what was asked of the builder (tid as 4 hex digits or
// null for "automatic", eojs and esv as hex, props as [epc, edt] hex pairs
// in order) beside the bytes it produced.
async function buildMode() {
	const dest = '127.0.0.1';
	const rinfo = { address: dest, family: 'IPv4', port: 3610 };
	const cases = [];
	const add = async (name, expect, fn) => {
		const sent = await captureSends(fn);
		cases.push({ name, expect, frames: sent });
	};
	EL.tid = [0x12, 0x33];

	await add('sendOPC1_get', { tid: '1234', seoj: '05ff01', deoj: '028801', esv: '62', props: [['e7', '']] },
		() => EL.sendOPC1(dest, '05ff01', '028801', EL.GET, 'e7'));
	await add('sendOPC1_setc', { tid: '1235', seoj: '05ff01', deoj: '028801', esv: '61', props: [['e5', '01']] },
		() => EL.sendOPC1(dest, [0x05, 0xff, 0x01], [0x02, 0x88, 0x01], 0x61, 0xe5, [0x01]));
	await add('sendOPC1_seti_number_edt', { tid: '1236', seoj: '05ff01', deoj: '028801', esv: '60', props: [['80', '30']] },
		() => EL.sendOPC1(dest, '05ff01', '028801', EL.SETI, 0x80, 0x30));
	await add('sendOPC1_inf_req', { tid: '1237', seoj: '05ff01', deoj: '0ef001', esv: '63', props: [['d5', '']] },
		() => EL.sendOPC1(dest, '05ff01', '0ef001', EL.INF_REQ, 'd5', ''));
	await add('sendDetails_get_array', {
		tid: '1238', seoj: '0ef001', deoj: '028801', esv: '62',
		props: [['e7', ''], ['e0', ''], ['d3', ''], ['e1', ''], ['d7', '']],
	}, () => EL.sendDetails(dest, '0ef001', '028801', EL.GET,
		[{ e7: '' }, { e0: '' }, { d3: '' }, { e1: '' }, { d7: '' }]));
	await add('sendDetails_setc_object', {
		tid: '1239', seoj: '05ff01', deoj: '028801', esv: '61',
		props: [['e5', '02'], ['ed', '07ea010f0c1e02']],
	}, () => EL.sendDetails(dest, '05ff01', '028801', EL.SETC, { e5: '02', ed: '07ea010f0c1e02' }));
	await add('sendELDATA_get_res', {
		tid: 'abcd', seoj: '028801', deoj: '05ff01', esv: '72',
		props: [['e7', 'fffffb2e'], ['e8', '007bffd3'], ['e1', '01']],
	}, () => EL.sendELDATA(dest, {
		TID: 'abcd', SEOJ: '028801', DEOJ: '05ff01', ESV: '72',
		DETAILs: { e7: 'fffffb2e', e8: '007bffd3', e1: '01' },
	}));
	await add('sendELDATA_inf_fixed_time', {
		tid: 'ffff', seoj: '028801', deoj: '0ef001', esv: '73',
		props: [['ea', '07ea010f0c0000000181cd']],
	}, () => EL.sendELDATA(dest, {
		TID: 'ffff', SEOJ: '028801', DEOJ: '0ef001', ESV: '73', DETAILs: { ea: '07ea010f0c0000000181cd' },
	}));
	await add('replyOPC1_get_res', { tid: '0102', seoj: '028801', deoj: '05ff01', esv: '72', props: [['e7', '000004c5']] },
		() => EL.replyOPC1(rinfo, '0102', '028801', '05ff01', EL.GET_RES, 'e7', '000004c5'));

	// The device side: answers EL builds from a dev_details table.
	const details = { '028801': { '80': [0x30], 'e7': [0x00, 0x00, 0x04, 0xc5], 'e1': [0x01] } };
	const getReq = EL.parseString('10810203' + '05ff01' + '028801' + '62' + '03' + 'e700' + 'e100' + 'f000');
	await add('replyGetDetail_get_sna', {
		tid: '0203', seoj: '028801', deoj: '05ff01', esv: '52',
		props: [['e7', '000004c5'], ['e1', '01'], ['f0', '']],
	}, () => EL.replyGetDetail(rinfo, getReq, details));
	const getOk = EL.parseString('10810204' + '05ff01' + '028801' + '62' + '02' + '8000' + 'e700');
	await add('replyGetDetail_get_res', {
		tid: '0204', seoj: '028801', deoj: '05ff01', esv: '72', props: [['80', '30'], ['e7', '000004c5']],
	}, () => EL.replyGetDetail(rinfo, getOk, details));
	const setOk = EL.parseString('10810205' + '05ff01' + '028801' + '61' + '01' + '800130');
	await add('replySetDetail_set_res', { tid: '0205', seoj: '028801', deoj: '05ff01', esv: '71', props: [['80', '']] },
		() => EL.replySetDetail(rinfo, setOk, details));
	const setBad1 = EL.parseString('10810206' + '05ff01' + '028801' + '61' + '01' + 'e50103');
	await add('replySetDetail_setc_sna_1byte', {
		tid: '0206', seoj: '028801', deoj: '05ff01', esv: '51', props: [['e5', '03']],
	}, () => EL.replySetDetail(rinfo, setBad1, details));
	const setBad7 = EL.parseString('10810207' + '05ff01' + '028801' + '61' + '01' + 'ed0707ea010f0c1e02');
	await add('replySetDetail_setc_sna_7bytes', {
		tid: '0207', seoj: '028801', deoj: '05ff01', esv: '51', props: [['ed', '07ea010f0c1e02']],
	}, () => EL.replySetDetail(rinfo, setBad7, details));

	process.stdout.write(JSON.stringify(cases));
}

// ---------------------------------------------------------------- client
// EL.initialize() binds 0.0.0.0:3610, joins 224.0.23.0 on the default
// interface and multicasts an INF: none of that may leave loopback here. So
// this sets the state initialize() would set, binds the receive socket to
// LOCAL:3610 only, and hands every datagram to EL.returner, EL's own receive
// path. EL.sendBase then sends from LOCAL:23610 (its usingIF.v4 branch).
function clientMode(meter, local, timeoutMs, delayMs, eojs = ['028801']) {
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
	EL.EL_obj = ['05ff01'];
	EL.EL_cls = EL.getClassList(EL.EL_obj);
	// The node-profile values initialize() derives from the object list.
	const instances = [EL.EL_obj.length].concat(...EL.EL_obj.map((e) => EL.toHexArray(e)));
	const classes = [EL.EL_cls.length].concat(...EL.EL_cls.map((e) => EL.toHexArray(e)));
	EL.Node_details.d3 = [0x00, 0x00, EL.EL_obj.length];
	EL.Node_details.d4 = [0x00, EL.EL_cls.length + 1];
	EL.Node_details.d5 = instances;
	EL.Node_details.d6 = instances;
	EL.Node_details.d7 = classes;

	const log = { received: [], errors: [] };
	let searched = false;
	let finished = false;
	const search = () => {
		if (searched) return;
		searched = true;
		// What EL.search() multicasts, sent to the meter's unicast address.
		EL.sendDetails(meter, EL.NODE_PROFILE_OBJECT, EL.NODE_PROFILE_OBJECT, EL.GET,
			[{ d6: '' }, { 83: '' }, { '9d': '' }, { '9e': '' }, { '9f': '' }]);
	};
	const complete = () => {
		const node = EL.facilities[meter];
		if (!node || !node['0ef001'] || eojs.some((e) => !node[e])) return false;
		for (const eoj of [...eojs, '0ef001']) {
			const props = node[eoj];
			if (!props['9f']) return false;
			const map = EL.toHexArray(props['9f']);
			for (const epc of map.slice(1)) {
				const key = EL.toHexString(epc);
				// EL's auto-get never reads d6, in any object (its loop guard for the node
				// profile's instance list, index.js returner, applied to every EOJ).
				if (key === 'd6') continue;
				if (props[key] === undefined) return false;
			}
		}
		return true;
	};
	const finish = (reason) => {
		if (finished) return;
		finished = true;
		clearInterval(poll);
		clearTimeout(timer);
		// One more single-property Get through EL.sendOPC1, then report.
		if (eojs.includes('028801')) EL.sendOPC1(meter, EL.NODE_PROFILE_OBJECT, '028801', EL.GET, 'e7');
		setTimeout(() => {
			const details = {};
			for (const [epc, edt] of Object.entries(EL.Node_details)) details[epc] = EL.bytesToString(edt);
			process.stdout.write(JSON.stringify({
				reason, facilities: EL.facilities, received: log.received, errors: log.errors,
				node_details: details,
			}) + '\n');
			// EL keeps answering as a node (its node profile) until stdin closes.
			process.stdin.resume();
			process.stdin.on('end', () => sock.close());
		}, Math.max(200, 4 * delayMs));
	};

	const sock = dgram.createSocket({ type: 'udp4', reuseAddr: true }, (msg, rinfo) => {
		log.received.push({ from: rinfo.address, port: rinfo.port, hex: msg.toString('hex') });
		EL.returner(msg, rinfo, (ri, els, err) => {
			if (err) log.errors.push(String(err));
			// A node announcing its instance list (INF of 0xd5) is searched at once.
			if (els && els.ESV === EL.INF && els.DETAILs && els.DETAILs.d5) search();
		});
	});
	EL.sock4 = sock;
	const poll = setInterval(() => { if (complete()) finish('complete'); }, 20);
	const timer = setTimeout(() => finish('timeout'), timeoutMs);
	sock.bind({ address: local, port: EL.EL_port }, () => {
		process.stderr.write('READY\n');
		// Without an announcement within a second, search anyway.
		setTimeout(search, 1000);
	});
}

const [mode, ...args] = process.argv.slice(2);
if (mode === 'decode') {
	decodeMode();
} else if (mode === 'build') {
	buildMode();
} else if (mode === 'client') {
	// EOJS: the device objects whose crawl must complete (default the meter 028801).
	const [meter, local, timeoutMs = '10000', delayMs = '20', eojs = '028801'] = args;
	clientMode(meter, local, Number(timeoutMs), Number(delayMs), eojs.split(','));
} else {
	process.stderr.write('usage: echonet_npm_decode.js decode|build|client METER LOCAL [TIMEOUT_MS DELAY_MS EOJS]\n');
	process.exit(2);
}
