/// The hand-written CSS and JavaScript the pages use, served by Postern itself (kiosk networks are
/// often offline: no CDN, no build step). The scripts build every row with `textContent`, never
/// with HTML strings, so a name or a device message can only ever be text.
enum Assets {
    static let files: [String: (type: String, body: String)] = [
        "style.css": ("text/css; charset=utf-8", style),
        "live.js": ("text/javascript; charset=utf-8", live),
        "board.js": ("text/javascript; charset=utf-8", board),
        "ledger.js": ("text/javascript; charset=utf-8", ledger),
    ]

    static let style = """
        body{font-family:"WenQuanYi Zen Hei","Noto Sans CJK SC",sans-serif;margin:0;background:#f4f5f7;color:#1d232b}
        body.zh .en,body.en .zh{display:none}
        .bar{display:flex;gap:1em;align-items:center;background:#1d3b5a;color:#fff;padding:.5em 1em;flex-wrap:wrap}
        .bar a{color:#dfe9f5;margin-right:.8em}.bar .who{margin-left:auto}.inline{display:inline}
        main{padding:1em}h2{font-size:1.05em;margin:.8em 0 .3em}
        table{border-collapse:collapse;background:#fff}td,th{border:1px solid #c9ced6;padding:3px 8px;font-size:.95em;text-align:left}
        .grid{display:flex;gap:2em;flex-wrap:wrap;align-items:flex-start}.grid .entries{flex:1 1 46em}.grid .side{flex:0 1 34em}
        .status{display:flex;gap:1.5em;align-items:center}
        .conn.ok{color:#17803d}.conn.down{color:#b3261e;font-weight:bold}
        .clock-ok{color:#17803d}.clock-unsynced{color:#b3261e;font-weight:bold}.link-ok{color:#17803d}.link-degraded{color:#b3261e;font-weight:bold}
        #alarms{list-style:none;padding:0;margin:0}
        .alarm{background:#b3261e;color:#fff;padding:.6em 1em;margin:.3em 0;font-size:1.1em;border-radius:4px;animation:blink 1s step-start 0s 6}
        .alarm .detail{opacity:.85}.alarm button{margin-left:1em}
        @keyframes blink{50%{background:#ff6d5e}}
        #entries tr.deny{background:#fde2e0}#entries tr.retest{background:#fff4d6}#entries tr.admit{background:#e6f5ea}
        #entries tr.late td{font-style:italic;color:#666}
        #entries img{width:45px;height:60px;object-fit:cover;display:block}
        .tag{font-size:.75em;background:#555;color:#fff;padding:0 .3em;border-radius:3px;margin-left:.3em}
        tr.missing td.state{color:#b3261e;font-weight:bold}tr.connected td.state{color:#17803d}
        .login main{max-width:22em;margin:4em auto;background:#fff;padding:2em;border-radius:6px}
        .login label{display:block;margin:.6em 0}.error{color:#b3261e}
        .ledger tr.deny{background:#fde2e0}
        @media print{.bar,.noprint{display:none}body{background:#fff}td,th{font-size:10pt}tr{page-break-inside:avoid}}
        .board{background:#0c1b2a;color:#fff;font-size:1.4vw;height:100vh;overflow:hidden}
        .board main{padding:1.5vw}.board table{background:transparent;color:#fff}.board td{border-color:#33506e;font-size:1.5vw;padding:.3vw 1vw}
        .sign{background:#c62828;color:#fff;font-size:4vw;font-weight:bold;text-align:center;padding:1vw}
        .sign small{display:block;font-size:1.6vw;font-weight:normal}
        .community{text-align:center;font-size:2.4vw;margin:.6vw}
        .last{text-align:center;padding:2vw;margin:1vw 0;border-radius:1vw;background:#1f3850}
        .last.admit{background:#1b7f3b}.last.deny{background:#b3261e}.last.retest{background:#c98a00}
        .instruction{font-size:6vw;font-weight:bold}.instruction-en{font-size:2vw}.reading{font-size:2.6vw}
        tr.on-duty td{color:#ffd54f}
        """

    static let live = """
        'use strict';
        (function () {
          var root = document.getElementById('live');
          var base = root ? (root.dataset.base || '') : '';
          if (!root) return;
          var csrf = document.querySelector('meta[name=csrf]').content;
          var canPhoto = root.dataset.photos === '1';
          var canAck = root.dataset.ack === '1';
          var rows = document.getElementById('entries');
          var alarms = document.getElementById('alarms');
          var conn = document.getElementById('conn');
          var sound = document.getElementById('sound');
          var maxRows = 300;
          // Every event id this page has shown, in order: the tests read it to prove no gap and no repeat.
          window.posternSeen = [];
          window.posternArrivals = {};
          var lastSeq = Number(root.dataset.after) || 0;

          function el(tag, text, cls) {
            var e = document.createElement(tag);
            if (text !== undefined && text !== null) e.textContent = String(text);
            if (cls) e.className = cls;
            return e;
          }
          function both(zh, en) {
            var s = document.createElement('span');
            s.appendChild(el('span', zh, 'zh'));
            s.appendChild(el('span', en, 'en'));
            return s;
          }
          function accept(ev) {
            var seq = Number(ev.lastEventId);
            if (!(seq > lastSeq)) return false;  // never show an event twice
            lastSeq = seq;
            window.posternSeen.push(seq);
            window.posternArrivals[seq] = Date.now();
            return true;
          }
          function beep() {
            if (!sound.checked) return;
            try {
              var ctx = new (window.AudioContext || window.webkitAudioContext)();
              var o = ctx.createOscillator();
              o.frequency.value = 880;
              o.connect(ctx.destination);
              o.start();
              o.stop(ctx.currentTime + 0.6);
            } catch (e) {}
          }
          function entry(d) {
            var tr = el('tr', null, d.outcome + (d.late ? ' late' : ''));
            tr.dataset.seq = d.seq;
            tr.appendChild(el('td', d.seq));
            tr.appendChild(el('td', d.time + (d.unsynced ? '*' : '')));
            tr.appendChild(el('td', d.lane));
            var dir = el('td');
            dir.appendChild(both(d.dirZh, d.dir));
            tr.appendChild(dir);
            var ph = el('td');
            if (d.photo && canPhoto) {
              var img = document.createElement('img');
              img.alt = '';
              img.src = base + '/photo/' + d.seq;
              ph.appendChild(img);
            }
            tr.appendChild(ph);
            var name = el('td', d.name);
            if (d.kind && d.kind !== 'resident') name.appendChild(el('span', d.kind, 'tag'));
            if (d.late) name.appendChild(el('span', '补传 late', 'tag'));
            tr.appendChild(name);
            tr.appendChild(el('td', d.temp));
            var out = el('td');
            out.appendChild(both(d.outcomeZh, d.outcomeEn));
            tr.appendChild(out);
            var why = el('td');
            why.appendChild(both(d.reasonZh + (d.attempts > 1 ? ' ×' + d.attempts : ''), d.reasonEn + (d.attempts > 1 ? ' ×' + d.attempts : '')));
            tr.appendChild(why);
            rows.insertBefore(tr, rows.firstChild);
            while (rows.children.length > maxRows) rows.removeChild(rows.lastChild);
          }
          function alarm(d) {
            if (alarms.querySelector('li[data-seq="' + d.seq + '"]')) return;
            var li = el('li', null, 'alarm');
            li.dataset.seq = d.seq;
            li.appendChild(el('span', d.time, 't'));
            li.appendChild(document.createTextNode(' '));
            li.appendChild(el('span', d.lane, 'lane'));
            li.appendChild(document.createTextNode(' '));
            li.appendChild(both(d.textZh, d.textEn));
            li.appendChild(document.createTextNode(' '));
            li.appendChild(el('span', d.detail, 'detail'));
            if (d.late) li.appendChild(el('span', '补传 late', 'tag'));
            if (canAck) {
              var b = el('button', '确认 Acknowledge', 'ack');
              b.type = 'button';
              b.dataset.seq = d.seq;
              li.appendChild(b);
            }
            alarms.appendChild(li);
            if (!d.late) beep();
          }
          function acked(d) {
            var li = alarms.querySelector('li[data-seq="' + d.ackOf + '"]');
            if (li) li.remove();
          }
          alarms.addEventListener('click', function (e) {
            var b = e.target.closest('button.ack');
            if (!b) return;
            b.disabled = true;
            fetch(base + '/alarms/' + encodeURIComponent(b.dataset.seq) + '/ack', {method: 'POST', headers: {'X-CSRF-Token': csrf}, credentials: 'same-origin'})
              .then(function (r) { if (!r.ok) b.disabled = false; })
              .catch(function () { b.disabled = false; });
          });

          var pending = null;
          function refresh() {
            if (pending) return;
            pending = setTimeout(function () {
              pending = null;
              fetch(base + '/live/summary', {credentials: 'same-origin'}).then(function (r) { return r.ok ? r.json() : null; }).then(function (s) {
                if (!s) return;
                s.lanes.forEach(function (l) {
                  var tr = document.querySelector('#counts tr[data-lane="' + CSS.escape(l.lane) + '"]');
                  if (!tr) {
                    tr = el('tr');
                    tr.dataset.lane = l.lane;
                    ['lane', 'inAdmit', 'inDeny', 'outAdmit', 'outDeny', 'retests'].forEach(function (k) { tr.appendChild(el('td', '', k)); });
                    document.querySelector('#counts tbody').appendChild(tr);
                  }
                  ['lane', 'inAdmit', 'inDeny', 'outAdmit', 'outDeny', 'retests'].forEach(function (k) {
                    var td = tr.querySelector('td.' + k) || tr.children[0];
                    td.textContent = l[k];
                  });
                });
                s.devices.forEach(function (d) {
                  var tr = document.querySelector('#devices tr[data-device="' + CSS.escape(d.device) + '"]');
                  if (!tr) return;
                  tr.className = d.state;
                  ['state', 'since', 'faultsToday', 'lastReading'].forEach(function (k) { tr.querySelector('td.' + k).textContent = d[k]; });
                });
                Object.keys(s.seven).forEach(function (k) {
                  var td = document.querySelector('#seven td.' + k);
                  if (td) td.textContent = s.seven[k];
                });
                var c = document.getElementById('clock');
                c.className = s.clockUnsynced ? 'clock-unsynced' : 'clock-ok';
                c.textContent = s.clockUnsynced ? '时钟未同步 clock NOT synchronised' : '时钟已同步 clock synchronised';
                var ln = document.getElementById('link');
                if (ln && s.link) {
                  ln.className = s.link.degraded ? 'link-degraded' : 'link-ok';
                  ln.textContent = s.linkText;
                }
              }).catch(function () {});
            }, 300);
          }
          setInterval(refresh, 10000);

          var es = new EventSource(base + '/live/stream?after=' + encodeURIComponent(root.dataset.after));
          es.onopen = function () { conn.textContent = '已连接 connected'; conn.className = 'conn ok'; };
          es.onerror = function () { conn.textContent = '重新连接中 reconnecting'; conn.className = 'conn down'; };
          es.addEventListener('entry', function (ev) { if (accept(ev)) { entry(JSON.parse(ev.data)); refresh(); } });
          es.addEventListener('alarm', function (ev) { if (accept(ev)) alarm(JSON.parse(ev.data)); });
          es.addEventListener('ack', function (ev) { if (accept(ev)) acked(JSON.parse(ev.data)); });
          es.addEventListener('device', function (ev) { if (accept(ev)) refresh(); });
          document.getElementById('lang-toggle').addEventListener('click', function () {
            document.body.className = document.body.className === 'en' ? 'zh' : 'en';
          });
        })();
        """

    static let board = """
        'use strict';
        (function () {
          var root = document.getElementById('board');
          if (!root) return;
          var base = root.dataset.base || '';
          var last = Number(root.dataset.after) || 0;
          window.posternBoardSeen = [];
          var es = new EventSource(base + '/board/stream?after=' + encodeURIComponent(root.dataset.after));
          es.addEventListener('decision', function (ev) {
            var seq = Number(ev.lastEventId);
            if (!(seq > last)) return;
            last = seq;
            window.posternBoardSeen.push(seq);
            var d = JSON.parse(ev.data);
            document.getElementById('last').className = 'last ' + d.outcome;
            document.getElementById('instruction').textContent = d.instructionZh;
            document.getElementById('instruction-en').textContent = d.instructionEn;
            document.getElementById('temp').textContent = d.temp;
            document.getElementById('lane').textContent = d.lane;
            document.getElementById('time').textContent = d.time;
          });
        })();
        """

    static let ledger = """
        'use strict';
        (function () {
          var b = document.getElementById('print');
          if (b) b.addEventListener('click', function () { window.print(); });
        })();
        """
}
