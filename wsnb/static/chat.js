// wsnb's browser chat: a client of docs/protocol.md that lives in a notebook cell's output.
// Every piece of text from the network is inserted with textContent, never as HTML.
// It reconnects with backoff and resumes like the Python subscriber: it rejoins with
// the epoch and last sequence number it saw, shows the replayed gap, and says so
// when the server could not replay it. It stops for good when its output leaves the
// page (a re-run cell, a cleared output), and stops retrying when the server has been
// gone for data-give-up-after seconds.
function wsnbChat(root) {
  "use strict";
  var url = root.dataset.url, room = root.dataset.room, name = root.dataset.name;
  var giveUpAfter = 1000 * Number(root.dataset.giveUpAfter || 60);
  var statusLine = root.querySelector(".wsnb-chat-status");
  var memberLine = root.querySelector(".wsnb-chat-members");
  var list = root.querySelector(".wsnb-chat-messages");
  var form = root.querySelector("form");
  var input = root.querySelector("textarea");
  var ws = null, joined = false, everOpen = false, delay = 100;
  var retry = null, downSince = null, lastClose = null, removed = false;
  var epoch = null, seq = 0, nextId = 1, fetching = false;
  var held = {}, pending = [];  // pending: publishes not acknowledged yet (sent again on rejoin)
  var members = {}, count = 0, you = null;  // member id -> name, as presence deltas keep it

  function setState(state, text) {
    root.dataset.state = state;
    statusLine.textContent = text;
  }

  function line(className, parts) {
    var item = document.createElement("li");
    item.className = className;
    parts.forEach(function (part) {
      var span = document.createElement("span");
      span.className = part[0];
      span.textContent = part[1];
      item.appendChild(span);
    });
    list.appendChild(item);
    list.scrollTop = list.scrollHeight;
    return item;
  }

  function note(text) { line("wsnb-chat-note", [["wsnb-chat-text", text]]); }

  function show(message) {
    var body = message.data.body;
    var item = line("wsnb-chat-message", [
      ["wsnb-chat-from", message.data.from + ": "],
      ["wsnb-chat-text", typeof body === "string" ? body : JSON.stringify(body)]
    ]);
    item.dataset.seq = String(message.seq);
  }

  function send(frame) { ws.send(JSON.stringify(frame)); }

  function showMembers() {
    var names = Object.keys(members).map(function (id) { return members[id]; });
    var more = count > names.length ? " and " + (count - names.length) + " more" : "";
    memberLine.textContent = "In " + room + " (" + count + "): " + names.join(", ") + more;
  }

  function listed(people, verb) {  // "ada, bob joined." with at most five names
    if (!people.length) return;
    var shown = people.slice(0, 5).map(function (p) { return p.name; }).join(", ");
    var more = people.length > 5 ? " and " + (people.length - 5) + " more" : "";
    note(shown + more + " " + verb + ".");
  }

  function onPresence(data) {  // docs/protocol.md: apply a net diff, in any order
    data.joined.forEach(function (p) { members[p.id] = p.name; });
    data.renamed.forEach(function (p) { members[p.id] = p.name; });
    data.left.forEach(function (p) { delete members[p.id]; });
    count = data.count;
    showMembers();
    listed(data.joined.filter(function (p) { return p.id !== you; }), "joined");
    listed(data.left, "left");
    data.renamed.forEach(function (p) { note(p.was + " is now called " + p.name + "."); });
  }

  function fetchSince() {
    fetching = true;
    send({type: "history", id: nextId++, room: room, data: {since: seq}});
  }

  function accept(message) {
    if (message.seq <= seq) return;                 // already shown: never twice
    if (message.seq > seq + 1) {                    // a gap: hold it and fetch the rest
      held[message.seq] = message;
      if (!fetching) fetchSince();
      return;
    }
    seq = message.seq;
    show(message);
    while (held[seq + 1]) {
      var next = held[seq + 1];
      delete held[seq + 1];
      seq = next.seq;
      show(next);
    }
  }

  function onJoined(data) {
    if (epoch !== null && data.recovered === false) {
      note("Some messages could not be recovered (" + data.reason + ").");
    }
    if (epoch === null || data.recovered === false) {
      epoch = data.epoch;
      held = {};
      seq = data.history.length ? data.history[0].seq - 1 : data.seq;
    }
    data.history.forEach(accept);
    if (data.more) fetchSince();  // a replay too big for one reply: page through the rest
    members = {};
    data.members.forEach(function (p) { members[p.id] = p.name; });
    count = data.count;
    you = data.you;
    showMembers();
    joined = true;
    setState("open", "Connected to " + url + " as " + name + ".");
    pending.forEach(send);  // at least once, as the Python subscriber
  }

  function handle(frame) {
    if (frame.type === "reply" && frame.re === "join") onJoined(frame.data);
    else if (frame.type === "reply" && frame.re === "history") {
      fetching = false;
      if (frame.data.messages.length && frame.data.messages[0].seq > seq + 1) {
        note("Some messages could not be recovered (gap_too_old).");
        seq = frame.data.messages[0].seq - 1;
      }
      frame.data.messages.forEach(accept);
      if (frame.data.more) fetchSince();
    }
    else if (frame.type === "reply" && frame.re === "publish") acknowledge(frame.id);
    else if (frame.type === "message" && frame.room === room) {
      if (epoch !== null && frame.epoch !== epoch) {  // the history was lost under us
        note("Some messages could not be recovered (epoch_changed).");
        epoch = frame.epoch;
        held = {};
        fetching = false;
        seq = frame.seq - 1;
      }
      accept(frame);
    }
    else if (frame.type === "presence" && frame.room === room) onPresence(frame.data);
    else if (frame.type === "error") {
      if (frame.re === "publish") acknowledge(frame.id);
      note("Error from the server: " + frame.code + ": " + frame.message);
    }
  }

  function acknowledge(id) {
    pending = pending.filter(function (frame) { return frame.id !== id; });
  }

  // Close codes a learner meets here, in words (docs/protocol.md has the full table).
  var MEANINGS = {
    1000: "normal close",
    1001: "going away: the server stopped",
    1006: "no close frame: the server's process ended or the network dropped",
    1008: "policy violation",
    1009: "a message was too big",
    1011: "the server failed",
    1012: "the server is restarting"
  };

  function why(event) {
    var text = String(event.code);
    if (MEANINGS[event.code]) text += ", " + MEANINGS[event.code];
    if (event.reason) text += ": " + event.reason;
    return text;
  }

  function connect() {
    retry = null;
    if (removed) return;
    setState(everOpen ? "reconnecting" : "connecting", "Connecting to " + url + "...");
    try {
      ws = new WebSocket(url);
    } catch (error) {
      setState("failed", "Cannot open " + url + ": " + error.message);
      return;
    }
    var socket = ws, opened = false;
    ws.onopen = function () {
      everOpen = opened = true;
      delay = 100;
      downSince = null;
      lastClose = null;
      send({type: "hello", id: nextId++, data: {name: name}});
      var join = {type: "join", id: nextId++, room: room};
      if (epoch !== null) join.data = {since: {epoch: epoch, seq: seq}};
      send(join);
    };
    ws.onmessage = function (event) {
      var frame;
      try { frame = JSON.parse(event.data); } catch (error) { return; }
      handle(frame);
    };
    ws.onclose = function (event) {
      if (socket !== ws || removed) return;  // closed by removal: nothing to retry
      joined = false;
      fetching = false;
      if (opened || lastClose === null) lastClose = event;  // a failed retry's 1006 says less
      var now = Date.now();
      if (downSince === null) downSince = now;
      if (now - downSince >= giveUpAfter) return giveUp();
      var wait = Math.round(delay * (0.5 + Math.random() / 2));
      var next = "in " + wait + " ms...";
      var left = Math.round((giveUpAfter - (now - downSince)) / 1000);
      if (!everOpen) {
        setState("unreachable", "Cannot reach " + url + " from this page. If JupyterLab runs on " +
          "another machine than your browser, the kernel's 127.0.0.1 is not yours: see " +
          "wsnb's docs/browser.md (jupyter-server-proxy). Retrying in " + wait + " ms.");
      } else if (lastClose.code === 1001) {
        setState("reconnecting", "The server stopped (" + why(lastClose) + "). Trying again " +
          "for " + left + " s in case it restarts: next try " + next);
      } else {
        setState("reconnecting", "Disconnected (" + why(lastClose) + "); reconnecting " + next);
      }
      retry = setTimeout(connect, wait);
      delay = Math.min(delay * 2, 3000);
    };
  }

  function giveUp() {
    var seconds = Math.round(giveUpAfter / 1000);
    if (!everOpen) {
      setState("stopped", "Cannot reach " + url + " from this page; stopped trying after " +
        seconds + " s (see wsnb's docs/browser.md). Re-run the cell to try again.");
    } else {
      setState("stopped", "The server is gone: it stopped (" + why(lastClose) + ") and did not " +
        "come back within " + seconds + " s. Re-run the cell to connect again.");
    }
  }

  // The output was removed or replaced (a re-run cell, a cleared output, a closed notebook):
  // leave the room for good, so that no ghost stays a member and nothing retries.
  function remove() {
    removed = true;
    watcher.disconnect();
    if (retry !== null) clearTimeout(retry);
    retry = null;
    root.dataset.state = "closed";
    if (ws !== null && ws.readyState <= 1) ws.close(1000, "the chat's output was removed");
  }

  var watcher = new MutationObserver(function () { if (!root.isConnected) remove(); });

  function submit() {
    var text = input.value;
    input.focus();
    if (!text.trim()) return;
    input.value = "";
    var frame = {type: "publish", id: nextId++, room: room, data: {body: text}};
    pending.push(frame);
    if (joined) send(frame);
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    submit();
  });
  // Enter sends and Shift+Enter starts a new line, handled here: inside JupyterLab's output
  // area a form never submits on Enter. Keys typed here stop at the box, so that the
  // notebook's shortcuts (Shift+Enter runs a cell, "a" adds one...) never see them.
  input.addEventListener("keydown", function (event) {
    event.stopPropagation();
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
      event.preventDefault();
      submit();
    }
  });
  if (!root.isConnected) return;  // displayed nowhere: nothing to run
  watcher.observe(document, {childList: true, subtree: true});
  connect();
}