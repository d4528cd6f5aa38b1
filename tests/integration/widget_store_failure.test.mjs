// Scenario: fail closed on the transcript store. What the org cannot review is not sent: if the
// user message cannot be stored, nothing is forwarded (503 STORE_UNAVAILABLE, the outcome
// receipt says store_unavailable); if the answer cannot be stored, it is not returned. The
// failure is made with a SQLite trigger that refuses inserts into transcripts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import {
    Scope, startMock, assertError, assertDecision, receiptAt, predicate, waitOutcome,
} from './lib/harness.mjs';
import { startWidgetGateway, enableWidget, widgetPost } from './lib/widget.mjs';

const exec = promisify(execFile);
const scope = new Scope();
after(() => scope.cleanup());

let mock, gw, key;
before(async () => {
    mock = await startMock(scope);
    gw = await startWidgetGateway(scope, mock);
    ({ key } = await enableWidget(gw));
});

const sqlite = (statement) => exec('sqlite3', ['-cmd', '.timeout 5000',
                                               path.join(gw.dir, 'bulwark.db'), statement]);

async function refused(when) {
    await sqlite('DROP TRIGGER IF EXISTS refuse_transcripts; CREATE TRIGGER refuse_transcripts ' +
                 `BEFORE INSERT ON transcripts WHEN ${when} BEGIN SELECT RAISE(FAIL, 'test'); END;`);
    await mock.reset();
    const r = await widgetPost(gw.port, key, { message: 'hello' });
    assertError(r, 503, 'STORE_UNAVAILABLE', { receipt: true });
    const index = assertDecision(r, 'allow', gw.keys);
    assert.equal(predicate(receiptAt(gw.dir, index)).route, 'widget');
    const op = predicate(await waitOutcome(gw.dir, index));
    assert.equal(op.status, 'store_unavailable');
    assert.equal(op.http_status, 503);
    return r;
}

test('the user message cannot be stored: nothing is forwarded', async () => {
    const r = await refused("NEW.role = 'user'");
    assert.equal((await mock.stats()).requests, 0, 'forwarded without a transcript');
    assert.ok(!r.text.includes('mock reply'));
});

test('the answer cannot be stored: it is not returned', async () => {
    const r = await refused("NEW.role = 'assistant'");
    assert.equal((await mock.stats()).requests, 1);
    assert.ok(!r.text.includes('mock reply'), 'the unstored answer reached the page');
});

test('once the store works again, so does the widget', async () => {
    await sqlite('DROP TRIGGER refuse_transcripts');
    const r = await widgetPost(gw.port, key, { message: 'hello' });
    assert.equal(r.status, 200, r.text);
});
