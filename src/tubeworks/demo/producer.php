<?php
// The producer side of `tubeworks demo`: a plain Pheanstalk 4 program, unchanged from what a PHP
// shop would run against beanstalkd. It first walks one job through bury and kick on INTRO_TUBE,
// then puts JOBS word-count tasks (one line of CORPUS each, as JSON) on BATCH_TUBE.
//
// Usage: php producer.php PORT INTRO_TUBE BATCH_TUBE JOBS CORPUS
// Output: one JSON object per line per step (the Python side narrates them); errors go to
// stderr and the exit status is 1.

declare(strict_types=1);

require '/usr/share/php/Pheanstalk/autoload.php';

use Pheanstalk\Pheanstalk;

set_exception_handler(function (\Throwable $e): void {
    fwrite(STDERR, sprintf("producer: %s: %s\n", get_class($e), $e->getMessage()));
    exit(1);
});

function emit(array $event): void
{
    echo json_encode($event), "\n";
    fflush(STDOUT);
}

if ($argc !== 6 || !ctype_digit($argv[1]) || !ctype_digit($argv[4])) {
    fwrite(STDERR, "usage: php producer.php PORT INTRO_TUBE BATCH_TUBE JOBS CORPUS\n");
    exit(2);
}
[, $port, $introTube, $batchTube, $jobs, $corpusPath] = $argv;
$lines = file($corpusPath, FILE_IGNORE_NEW_LINES | FILE_SKIP_EMPTY_LINES);
if ($lines === false || count($lines) === 0) {
    fwrite(STDERR, "producer: no lines in corpus $corpusPath\n");
    exit(1);
}

$pheanstalk = Pheanstalk::create('127.0.0.1', (int) $port);
emit(['event' => 'connected', 'port' => (int) $port]);

// The README flow: put, reserve, bury, kick, and the job is ready again.
$pheanstalk->useTube($introTube);
emit(['event' => 'use', 'tube' => $introTube]);
$put = $pheanstalk->put('count the elephpants');
emit(['event' => 'put', 'tube' => $introTube, 'id' => $put->getId(), 'body' => $put->getData()]);
$pheanstalk->watch($introTube);
emit(['event' => 'watch', 'tube' => $introTube]);
$job = $pheanstalk->reserve();
emit(['event' => 'reserve', 'id' => $job->getId(), 'body' => $job->getData()]);
$pheanstalk->bury($job);
emit(['event' => 'bury', 'id' => $job->getId(), 'state' => $pheanstalk->statsJob($job)['state']]);
$kicked = $pheanstalk->kick(1);
$stats = $pheanstalk->statsJob($job);
$body = $pheanstalk->peek($job)->getData();
emit([
    'event' => 'kick', 'kicked' => $kicked, 'id' => $job->getId(),
    'state' => $stats['state'], 'body' => $body,
]);

// The batch: one word-count task per line of the corpus, cycling through it.
$pheanstalk->useTube($batchTube);
$started = microtime(true);
$first = null;
$last = null;
for ($i = 0; $i < (int) $jobs; $i++) {
    $lineNo = $i % count($lines);
    $payload = json_encode(['task' => 'word-count', 'seq' => $i, 'line' => $lineNo + 1, 'text' => $lines[$lineNo]]);
    $id = $pheanstalk->put($payload)->getId();
    $first ??= $id;
    $last = $id;
}
emit([
    'event' => 'batch', 'tube' => $batchTube, 'count' => (int) $jobs,
    'first_id' => $first, 'last_id' => $last, 'seconds' => microtime(true) - $started,
]);
