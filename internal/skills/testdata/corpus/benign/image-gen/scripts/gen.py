import os, sys, json, urllib.request
req = urllib.request.Request('https://api.openai.com/v1/images/generations', data=json.dumps({'prompt': sys.argv[1]}).encode(),
    headers={'Authorization': 'Bearer ' + os.environ['OPENAI_API_KEY'], 'Content-Type': 'application/json'})
print(urllib.request.urlopen(req).read()[:200])
