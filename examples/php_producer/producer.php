<?php
// Example 4's producer: plain Pheanstalk 4, exactly what a PHP application would run against
// beanstalkd. It puts COUNT JSON jobs on the 'phpsw' tube for the Python workers.
//
// Usage: php producer.php PORT COUNT OUT_DIR
// Prints one line per job put: "put ID"; errors go to stderr with exit status 1.

declare(strict_types=1);

require '/usr/share/php/Pheanstalk/autoload.php';

use Pheanstalk\Pheanstalk;

if ($argc !== 4 || !ctype_digit($argv[1]) || !ctype_digit($argv[2])) {
    fwrite(STDERR, "usage: php producer.php PORT COUNT OUT_DIR\n");
    exit(2);
}
[, $port, $count, $out] = $argv;

try {
    $pheanstalk = Pheanstalk::create('127.0.0.1', (int) $port);
    $pheanstalk->useTube('phpsw');
    for ($i = 1; $i <= (int) $count; $i++) {
        $job = $pheanstalk->put(json_encode([
            'seq' => $i,
            'name' => sprintf('elephpant %d', $i),
            'sent_by' => 'PHP ' . PHP_VERSION,
            'out' => $out,
        ]));
        echo 'put ', $job->getId(), "\n";
    }
} catch (\Throwable $e) {
    fwrite(STDERR, sprintf("producer: %s: %s\n", get_class($e), $e->getMessage()));
    exit(1);
}
