<?php
// Against a server in drain mode: put must fail with Pheanstalk's draining exception, while
// read-only commands keep working. Usage: php pheanstalk_draining.php PORT. Prints JSON.

declare(strict_types=1);

require '/usr/share/php/Pheanstalk/autoload.php';

use Pheanstalk\Exception\ServerDrainingException;
use Pheanstalk\Pheanstalk;

if ($argc !== 2 || !ctype_digit($argv[1])) {
    fwrite(STDERR, "usage: php pheanstalk_draining.php PORT\n");
    exit(2);
}
$p = Pheanstalk::create('127.0.0.1', (int) $argv[1]);
try {
    $p->put('refused');
    $put = 'none';
} catch (ServerDrainingException $e) {
    $put = 'ServerDrainingException';
}
echo json_encode([
    'put' => $put,
    'draining' => $p->stats()['draining'],
    'tubes' => $p->listTubes(),
]), "\n";
