<?php
// The README's PHP flow, verbatim: put on tube "phpsw", reserve it, bury it, kick it back.
// Usage: php pheanstalk_bury_kick.php PORT. Prints the job's state after each step as JSON.

declare(strict_types=1);

require '/usr/share/php/Pheanstalk/autoload.php';

use Pheanstalk\Pheanstalk;

if ($argc !== 2 || !ctype_digit($argv[1])) {
    fwrite(STDERR, "usage: php pheanstalk_bury_kick.php PORT\n");
    exit(2);
}
$pheanstalk = Pheanstalk::create('127.0.0.1', (int) $argv[1]);

$pheanstalk->useTube('phpsw');
$put = $pheanstalk->put('count the elephpants');
$pheanstalk->watch('phpsw');
$job = $pheanstalk->reserve();
$reservedState = $pheanstalk->statsJob($job)['state'];
$pheanstalk->bury($job);
$buriedState = $pheanstalk->statsJob($job)['state'];
$kicked = $pheanstalk->kick(1);
$after = $pheanstalk->statsJob($job);
$peeked = $pheanstalk->peek($job);

echo json_encode([
    'put_id' => $put->getId(),
    'reserved_id' => $job->getId(),
    'reserved_body' => $job->getData(),
    'reserved_state' => $reservedState,
    'buried_state' => $buriedState,
    'kicked' => $kicked,
    'state' => $after['state'],
    'tube' => $after['tube'],
    'buries' => $after['buries'],
    'kicks' => $after['kicks'],
    'body' => $peeked->getData(),
]), "\n";
