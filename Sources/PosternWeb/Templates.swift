import Mustache

/// The pages, as mustache templates compiled into the binary (a kiosk installs one file; nothing
/// is looked up at run time). `{{x}}` escapes & < > " ' — every value from the registry, the log
/// or a request goes through it; no template uses `{{{x}}}`. Scripts are separate files under
/// /assets (the Content-Security-Policy forbids inline script).
enum Templates {
    static let head = """
        <!doctype html>
        <html lang="zh">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <meta name="csrf" content="{{csrf}}">
        <title>{{title}}</title>
        <link rel="stylesheet" href="/assets/style.css">
        </head>
        """

    static let nav = """
        <header class="bar">
          <strong class="gate">{{title}}</strong>
          {{#user}}
          <nav>
            {{#picker}}<a href="/">小区 Communities</a>{{/picker}}
            <a href="{{base}}/live">实时 Live</a>
            <a href="{{base}}/ledger">台账 Ledger</a>
            {{#board}}<a href="{{base}}/board">看板 Board</a>
            {{#admin}}<a href="{{base}}/board/edit">看板设置 Board settings</a>{{/admin}}{{/board}}
          </nav>
          <span class="who">{{user}} ({{role}})</span>
          <form method="post" action="/logout" class="inline"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit">退出 Log out</button></form>
          {{/user}}
        </header>
        """

    static let login = """
        {{> head}}
        <body class="login">
        <main>
        <h1>{{title}}</h1>
        <form method="post" action="/login" id="login-form">
          <input type="hidden" name="csrf" value="{{csrf}}">
          <label>用户名 User <input name="user" id="user" autocomplete="username" required maxlength="32"></label>
          <label>密码 Password <input name="password" id="password" type="password" autocomplete="current-password" required maxlength="72"></label>
          <button type="submit" id="login">登录 Log in</button>
        </form>
        {{#error}}<p class="error" id="login-error">{{error}}</p>{{/error}}
        </main>
        </body>
        </html>
        """

    static let picker = """
        {{> head}}
        <body class="zh">
        {{> nav}}
        <main id="picker">
        <h1>小区 Communities</h1>
        <ul id="communities">
          {{#communities}}<li><a class="live" href="/c/{{id}}/live">{{name}}</a> · <a href="/c/{{id}}/ledger">台账 Ledger</a></li>{{/communities}}
          {{^communities}}<li>此账号无可查看的小区 No community in this account's scope</li>{{/communities}}
        </ul>
        </main>
        </body>
        </html>
        """

    static let live = """
        {{> head}}
        <body class="{{lang}}">
        {{> nav}}
        <main id="live" data-base="{{base}}" data-after="{{after}}" data-photos="{{photos}}" data-ack="{{ack}}">
        <section class="status">
          <span id="conn" class="conn">连接中 connecting</span>
          <span id="clock" class="{{clockClass}}">{{clockText}}</span>
          {{#link}}<span id="link" class="{{class}}">{{text}}</span>{{/link}}
          <label><input type="checkbox" id="sound"> 报警声音 alarm sound</label>
          <button type="button" id="lang-toggle">中文 / English</button>
        </section>
        <section>
          <h2><span class="zh">报警</span><span class="en">Alarms</span></h2>
          <ul id="alarms">
          {{#alarms}}
            <li class="alarm" data-seq="{{seq}}"><span class="t">{{time}}</span> <span class="lane">{{lane}}</span> <span class="zh">{{textZh}}</span><span class="en">{{textEn}}</span> <span class="detail">{{detail}}</span>{{#ack}} <button type="button" class="ack" data-seq="{{seq}}">确认 Acknowledge</button>{{/ack}}</li>
          {{/alarms}}
          </ul>
        </section>
        <section class="grid">
          <div class="entries">
            <h2><span class="zh">实时通行</span><span class="en">Entries as they happen</span></h2>
            <table id="entries-table"><thead><tr><th>#</th><th>时间 Time</th><th>通道 Lane</th><th>方向 Dir</th><th>照片 Photo</th><th>姓名 Name</th><th>体温 °C</th><th>结果 Decision</th><th>原因 Reason</th></tr></thead>
            <tbody id="entries"></tbody></table>
          </div>
          <div class="side">
          <div>
            <h2><span class="zh">今日通行</span><span class="en">Today per lane</span></h2>
            <table id="counts"><thead><tr><th>通道 Lane</th><th>进·通行 in</th><th>进·拒绝 denied</th><th>出·通行 out</th><th>出·拒绝 denied</th><th>复测 retest</th></tr></thead>
            <tbody>{{#lanes}}<tr data-lane="{{lane}}"><td>{{lane}}</td><td class="inAdmit">{{inAdmit}}</td><td class="inDeny">{{inDeny}}</td><td class="outAdmit">{{outAdmit}}</td><td class="outDeny">{{outDeny}}</td><td class="retests">{{retests}}</td></tr>{{/lanes}}</tbody></table>
          </div>
          <div>
            <h2><span class="zh">七知</span><span class="en">Seven counts</span></h2>
            <table id="seven"><tbody>
            {{#seven}}
            <tr><td>总户数 households</td><td class="households">{{households}}</td></tr>
            <tr><td>出租房屋 rentals</td><td class="rentalHouseholds">{{rentalHouseholds}}</td></tr>
            <tr><td>湖北籍 Hubei</td><td class="hubei">{{hubei}}</td></tr>
            <tr><td>武汉籍 Wuhan</td><td class="wuhan">{{wuhan}}</td></tr>
            <tr><td>其他外来 other outsiders</td><td class="otherOutsiders">{{otherOutsiders}}</td></tr>
            <tr><td>节后返乡 returnees</td><td class="returnees">{{returnees}}</td></tr>
            <tr><td>居家隔离 in isolation</td><td class="inIsolation">{{inIsolation}}</td></tr>
            {{/seven}}
            </tbody></table>
          </div>
          <div>
            <h2><span class="zh">设备</span><span class="en">Devices</span></h2>
            <table id="devices"><thead><tr><th>设备 Device</th><th>状态 State</th><th>自 Since</th><th>今日故障 Faults</th><th>最近读数 Last reading</th></tr></thead>
            <tbody>{{#devices}}<tr data-device="{{device}}" class="{{state}}"><td>{{device}}</td><td class="state">{{state}}</td><td class="since">{{since}}</td><td class="faultsToday">{{faultsToday}}</td><td class="lastReading">{{lastReading}}</td></tr>{{/devices}}</tbody></table>
          </div>
          </div>
        </section>
        </main>
        <script src="/assets/live.js"></script>
        </body>
        </html>
        """

    static let ledger = """
        {{> head}}
        <body class="ledger">
        {{> nav}}
        <main>
        <h1>出入登记台账 Entry ledger · {{day}} · {{gate}}</h1>
        <form method="get" action="{{base}}/ledger" class="noprint"><label>日期 Day <input name="day" value="{{day}}" pattern="\\d{4}-\\d{2}-\\d{2}"></label> <button type="submit">查看 Show</button> <button type="button" id="print">打印 Print</button></form>
        <table id="ledger"><thead><tr><th>#</th><th>时间 Time</th><th>通道 Lane</th><th>方向 Dir</th><th>姓名 Name</th><th>身份证号 ID number</th><th>体温 Temp</th><th>结果 Outcome</th><th>原因 Reason</th><th>放行人员 Staff</th></tr></thead>
        <tbody>
        {{#rows}}<tr class="{{outcome}}"><td>{{seq}}</td><td>{{time}}{{#clockUnsynced}}*{{/clockUnsynced}}</td><td>{{lane}}</td><td>{{direction}}</td><td>{{name}}</td><td>{{idNumber}}</td><td>{{temperature}}</td><td>{{outcomeText}}</td><td>{{reasonText}}</td><td>{{staff}}</td></tr>{{/rows}}
        </tbody></table>
        <p>{{count}} 条记录 records · * 记录时系统时钟未同步 time recorded before the clock was synchronised · 姓名已遮盖 names masked</p>
        </main>
        <script src="/assets/ledger.js"></script>
        </body>
        </html>
        """

    static let board = """
        {{> head}}
        <body class="board">
        <main id="board" data-base="{{base}}" data-after="{{after}}">
        <div class="sign">非本小区人员禁止入内<small>Residents only · 一律凭证出入 · 一律测量体温</small></div>
        <h1 class="community">{{community}}</h1>
        <section id="last" class="last {{lastOutcome}}">
          <div id="instruction" class="instruction">{{lastInstructionZh}}</div>
          <div id="instruction-en" class="instruction-en">{{lastInstructionEn}}</div>
          <div class="reading"><span id="temp">{{lastTemp}}</span> °C · <span id="lane">{{lastLane}}</span> · <span id="time">{{lastTime}}</span></div>
        </section>
        <section class="roster">
          <h2>防控责任人 People in charge</h2>
          <table id="roster"><tbody>
          {{#roster}}<tr class="{{#onDuty}}on-duty{{/onDuty}}"><td class="duty">{{duty}}</td><td class="name">{{name}}</td><td class="phone">{{phone}}</td><td>{{#onDuty}}今日值班 on duty{{/onDuty}}</td></tr>{{/roster}}
          </tbody></table>
        </section>
        <section class="notices">
          <h2>通知 Notices</h2>
          <ul id="notices">{{#notices}}<li>{{.}}</li>{{/notices}}</ul>
        </section>
        </main>
        <script src="/assets/board.js"></script>
        </body>
        </html>
        """

    static let boardEdit = """
        {{> head}}
        <body>
        {{> nav}}
        <main>
        <h1>看板设置 Board settings</h1>
        {{#error}}<p class="error">{{error}}</p>{{/error}}
        <form method="post" action="{{base}}/board/edit">
          <input type="hidden" name="csrf" value="{{csrf}}">
          <table><thead><tr><th>公示 Publish</th><th>姓名 Name</th><th>职务 Duty</th><th>公开电话 Published phone</th><th>今日值班 On duty</th></tr></thead><tbody>
          {{#staff}}
          <tr><td><input type="checkbox" name="publish" value="{{id}}" {{#published}}checked{{/published}}></td><td>{{name}}</td>
          <td><input name="duty.{{id}}" value="{{duty}}" maxlength="32"></td><td><input name="phone.{{id}}" value="{{phone}}" maxlength="20"></td>
          <td><input type="checkbox" name="onduty" value="{{id}}" {{#onDuty}}checked{{/onDuty}}></td></tr>
          {{/staff}}
          </tbody></table>
          <label>通知（每行一条） Notices, one per line<br><textarea name="notices" rows="6" cols="60">{{notices}}</textarea></label>
          <button type="submit" id="save">保存 Save</button>
        </form>
        </main>
        </body>
        </html>
        """

    static let library: MustacheLibrary = {
        var lib = MustacheLibrary()
        for (name, text) in [("head", head), ("nav", nav), ("login", login), ("live", live), ("ledger", ledger), ("board", board), ("boardEdit", boardEdit), ("picker", picker)] {
            try! lib.register(text, named: name)
        }
        return lib
    }()

    static func render(_ name: String, _ context: [String: Any]) -> String {
        library.render(context, withTemplate: name) ?? ""
    }
}
