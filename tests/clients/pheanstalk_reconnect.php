<?php
// Pheanstalk 4 across a server restart: a socket error makes it reconnect, replay use/watch and
// re-send the command once. Usage: php pheanstalk_reconnect.php PORT. Prints a "connected"
// JSON line, waits for a line on stdin (the test restarts the server), then prints the result.

declare(strict_types=1);

require '/usr/share/php/Pheanstalk/autoload.php';

use Pheanstalk\Pheanstalk;

if ($argc !== 2 || !ctype_digit($argv[1])) {
    fwrite(STDERR, "usage: php pheanstalk_reconnect.php PORT\n");
    exit(2);
}
$p = Pheanstalk::create('127.0.0.1', (int) $argv[1]);
$p->useTube('php-restart')->watchOnly('php-restart');
$before = $p->put('before restart');
echo json_encode(['phase' => 'connected', 'put' => $before->getId()]), "\n";
fflush(STDOUT);

fgets(STDIN); // the server is restarted before this line arrives

// Reading the reply to the first command hits EOF -> reconnect, replay, re-send once.
$used = $p->listTubeUsed(true);
$after = $p->put('after restart');
$job = $p->reserveWithTimeout(0);
$out = [
    'phase' => 'done',
    'used' => $used,
    'put' => $after->getId(),
    'reserved' => $job === null ? null : ['id' => $job->getId(), 'data' => $job->getData()],
    'watched' => $p->listTubesWatched(true),
];
$p->delete($job);
echo json_encode($out), "\n";
