<?php
// Drive a beanstalk server with Pheanstalk 4 across most of its API and print what was observed
// as one JSON object. Usage: php pheanstalk_api.php PORT. The Python test asserts on the output;
// this script only records, so every expectation lives in tests/queue/test_real_clients.py.

declare(strict_types=1);

require '/usr/share/php/Pheanstalk/autoload.php';

use Pheanstalk\Job;
use Pheanstalk\JobId;
use Pheanstalk\Pheanstalk;

if ($argc !== 2 || !ctype_digit($argv[1])) {
    fwrite(STDERR, "usage: php pheanstalk_api.php PORT\n");
    exit(2);
}
$p = Pheanstalk::create('127.0.0.1', (int) $argv[1]);
$out = [];

// The short class name of what $f throws, or "none" when it returns normally.
function raised(callable $f): string
{
    try {
        $f();
    } catch (\Throwable $e) {
        $parts = explode('\\', get_class($e));
        return end($parts);
    }
    return 'none';
}

function job_view(?Job $job): ?array
{
    return $job === null ? null : ['id' => $job->getId(), 'data' => $job->getData()];
}

// put / reserve / statsJob / delete
$p->useTube('php-api')->watch('php-api')->ignore('default');
$out['watched'] = $p->listTubesWatched(true);
$out['used'] = $p->listTubeUsed(true);
$a = $p->put('first', 10, 0, 30);
$b = $p->put('second');
$out['put_ids'] = [$a->getId(), $b->getId()];
$job = $p->reserve();
$out['reserved'] = job_view($job);
$stats = $p->statsJob($job);
$out['stats_job'] = [
    'id' => $stats['id'], 'tube' => $stats['tube'], 'state' => $stats['state'],
    'pri' => $stats['pri'], 'ttr' => $stats['ttr'], 'reserves' => $stats['reserves'],
];
$p->touch($job);
$p->delete($job);
$out['delete_again'] = raised(fn () => $p->delete($job));
$out['peek_deleted'] = raised(fn () => $p->peek(new JobId($a->getId())));
$out['peek_second'] = job_view($p->peek(new JobId($b->getId())));

// release with delay, peekDelayed, kick (moves delayed when nothing is buried)
$job = $p->reserveWithTimeout(0);
$p->release($job, 5, 3600);
$out['released_state'] = $p->statsJob($job)['state'];
$out['peek_delayed'] = job_view($p->peekDelayed());
$out['reserve_when_only_delayed'] = job_view($p->reserveWithTimeout(0));
$out['kick_delayed'] = $p->kick(10);
$out['peek_ready'] = job_view($p->peekReady());

// bury, peekBuried, kickJob, statsTube
$job = $p->reserveWithTimeout(0);
$p->bury($job, 2);
$out['buried_stats'] = [
    'state' => $p->statsJob($job)['state'], 'pri' => $p->statsJob($job)['pri'],
];
$out['peek_buried'] = job_view($p->peekBuried());
$tube = $p->statsTube('php-api');
$out['stats_tube'] = [
    'name' => $tube['name'], 'buried' => $tube['current-jobs-buried'],
    'watching' => $tube['current-watching'], 'using' => $tube['current-using'],
    'total' => $tube['total-jobs'], 'deletes' => $tube['cmd-delete'],
];
$p->kickJob($job);
$out['kicked_job_state'] = $p->statsJob($job)['state'];
$out['kick_job_ready'] = raised(fn () => $p->kickJob($job));
$out['peek_buried_empty'] = job_view($p->peekBuried());

// timeouts: nothing ready, then DEADLINE_SOON from a ttr-1 reservation
$job = $p->reserveWithTimeout(0);
$p->delete($job);
$out['reserve_timed_out'] = job_view($p->reserveWithTimeout(0));
$p->put('short ttr', 1024, 0, 1);
$short = $p->reserveWithTimeout(0);
$out['deadline_soon'] = raised(fn () => $p->reserveWithTimeout(0));
$p->delete($short);

// pause / resume
$paused = $p->put('held back');
$p->pauseTube('php-api', 3600);
$out['paused_pause'] = $p->statsTube('php-api')['pause'];
$out['reserve_while_paused'] = job_view($p->reserveWithTimeout(0));
$p->resumeTube('php-api');
$out['reserve_after_resume'] = job_view($p->reserveWithTimeout(0));
$p->delete($paused);

// withUsedTube / withWatchedTube, listTubes
$p->withUsedTube('php-other', fn (Pheanstalk $ph) => $ph->put('elsewhere'));
$out['used_after_with'] = $p->listTubeUsed(true);
$other = $p->withWatchedTube('php-other', fn (Pheanstalk $ph) => $ph->reserveWithTimeout(0));
$out['with_watched'] = job_view($other);
$p->delete($other);
// Pheanstalk 4's withWatchedTube reuses $tube as its loop variable and so leaves 'php-other'
// watched; ask the server what it thinks, then tidy up by hand.
$out['watched_after_with'] = $p->listTubesWatched(true);
$p->ignore('php-other');
$tubes = $p->listTubes();
sort($tubes);
$out['tubes'] = $tubes;

// errors mapped to exceptions
$out['ignore_last'] = raised(fn () => $p->ignore('php-api'));
$out['stats_tube_missing'] = raised(fn () => $p->statsTube('no-such-tube'));
$out['stats_job_missing'] = raised(fn () => $p->statsJob(new JobId(999999)));
$out['pause_missing'] = raised(fn () => $p->pauseTube('no-such-tube', 1));
$out['too_big'] = raised(fn () => $p->put(str_repeat('x', 65536)));
$out['bad_tube'] = raised(fn () => $p->useTube('-bad'));
$out['after_errors'] = $p->put('still in sync')->getId() > 0;
$p->delete($p->reserveWithTimeout(0));

// bodies that are not plain text: CRLF and NUL inside, multi-byte UTF-8, the largest allowed
$odd = ["a\r\nb\0c\r\n", 'ünïcødé ✓', str_repeat('z', 65535), ''];
$out['bodies'] = [];
foreach ($odd as $body) {
    $id = $p->put($body)->getId();
    $got = $p->reserveWithTimeout(0);
    $out['bodies'][] = [
        'same_id' => $got->getId() === $id,
        'same_body' => $got->getData() === $body,
        'bytes' => strlen($got->getData()),
    ];
    $p->delete($got);
}

// server stats are strings in Pheanstalk 4
$stats = $p->stats();
$out['stats'] = [
    'cmd-put' => $stats['cmd-put'], 'cmd-bury' => $stats['cmd-bury'],
    'cmd-kick' => $stats['cmd-kick'], 'cmd-touch' => $stats['cmd-touch'],
    'cmd-pause-tube' => $stats['cmd-pause-tube'], 'max-job-size' => $stats['max-job-size'],
    'draining' => $stats['draining'], 'has_version' => isset($stats['version']),
    'keys' => count($stats),
];

echo json_encode($out), "\n";
